//! `get_system`: information about the library's environment (HALCON's operator of that
//! name; dlopt answers the queries about AI² plugins).

use super::boundary::{input, operator, output, write_tuple};
use super::types::Htuple;
use crate::dict::{Dict, KeyRef};
use crate::error::{H_MSG_TRUE, Herror, Result};
use crate::handle::HandleRef;
use crate::plugin::{self, PluginRecord};
use crate::tuple::{Element, Tuple};

/// The queries `get_system` answers.
pub const SYSTEM_QUERIES: &[&str] = &["ai2_plugin_path", "ai2_plugins"];

fn plugin_dict(record: &PluginRecord) -> Result<Element> {
    let dict = Dict::new();
    let put = |key: &str, value: Tuple| dict.set_tuple(KeyRef::String(key), value);
    put("path", Tuple::from_strings([record.path.to_string_lossy()])?);
    if let Some(name) = &record.name {
        put("name", Tuple::from_strings([name])?);
    }
    if let Some(interface) = &record.interface {
        put("interface", Tuple::from_strings([interface])?);
    }
    if let Some(version) = &record.version {
        put("version", Tuple::from_strings([version])?);
    }
    if let Some(abi) = &record.abi_version {
        put("abi_version", Tuple::from_strings([abi])?);
    }
    match &record.outcome {
        Ok(loaded) => {
            put("status", Tuple::from_strings(["loaded"])?);
            put("error_code", Tuple::from_integers([H_MSG_TRUE as i64]));
            put("reason", Tuple::from_strings([""])?);
            put("num_devices", Tuple::from_integers([loaded.device_count as i64]));
        }
        Err(error) => {
            put("status", Tuple::from_strings(["failed"])?);
            put("error_code", Tuple::from_integers([error.code as i64]));
            put("reason", Tuple::from_strings([&error.message])?);
            put("num_devices", Tuple::from_integers([0]));
        }
    }
    Ok(Element::handle(HandleRef::new(dict)?))
}

/// `*Information` receives what `Query` asks for:
///
/// - `'ai2_plugins'`: one new dict handle per AI² plugin file found, in load order, with
///   the keys `'path'`, `'status'` (`'loaded'` or `'failed'`), `'error_code'` (2 for a
///   loaded plugin; for a failed one the HALCON number of its failure: 8600 the library
///   could not be loaded, 8602 an entry symbol is missing, 8603 ABI mismatch or incomplete
///   function table, 4320 its `initialize` or device enumeration failed), `'reason'` (`''`
///   when loaded), `'num_devices'`, and, once known, `'name'`, `'interface'`, `'version'`
///   and `'abi_version'` (`'major.minor'` as negotiated).
/// - `'ai2_plugin_path'`: the directories searched for plugins, in order (those of the
///   environment variable `DLOPT_AI2_PLUGIN_PATH`, then `dlopt-plugins` beside the library).
///
/// The first query of either kind (or of devices) searches and loads the plugins; the
/// result is fixed for the life of the process. Errors: an unknown query 1301; `Query` not
/// one string 1201 / 1401.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_system(query: Htuple, information: *mut Htuple) -> Herror {
    operator("get_system", || {
        let query_param = unsafe { input(query, 1, "Query") }?;
        let query = query_param.string()?;
        let out = unsafe { output(information, 2, "Information") }?;
        let value = match query {
            "ai2_plugins" => Tuple::from_elements(
                plugin::registry().records.iter().map(plugin_dict).collect::<Result<Vec<_>>>()?,
            ),
            "ai2_plugin_path" => Tuple::from_strings(
                plugin::registry().directories.iter().map(|dir| dir.to_string_lossy()),
            )?,
            other => {
                return Err(query_param.wrong_value(format_args!(
                    "unknown query '{other}' (known: {})",
                    SYSTEM_QUERIES.join(", ")
                )));
            }
        };
        write_tuple(out, value);
        Ok(())
    })
}
