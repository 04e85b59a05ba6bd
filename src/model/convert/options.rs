//! The `GenParam` of `optimize_dl_model_for_inference`: checked against the device's
//! `'optimize_for_inference_params'` (the keys it accepts, with their defaults), defaults
//! filled in for the keys not given.
//!
//! A key the device does not list, a key that is not a string, an image in the dict, and a
//! value of another kind than the default's are 4321 (`H_ERR_HAI2_INVALID_PARAM`) naming
//! the key: an integer default takes one integer, a real default one number, a string
//! default one string, a list default a tuple of integers, reals and strings, a map default
//! one dict handle. Finer checks (ranges, allowed strings) are the plugin's, when it
//! compiles (its refusal is 4321 too).

use crate::dict::{Dict, DictKey, DictValue};
use crate::error::{H_ERR_HAI2_INVALID_PARAM, HalconError, Result};
use crate::plugin::device::PluginDevice;
use crate::plugin::value::PluginValue;
use crate::tuple::{Element, Tuple};

use crate::dict::KeyRef;

fn invalid(message: String) -> HalconError {
    HalconError::new(H_ERR_HAI2_INVALID_PARAM, message)
}

/// The keys a device accepts, for messages.
fn known_keys(defaults: &[(String, PluginValue)]) -> String {
    if defaults.is_empty() {
        "it accepts none: pass an empty dict or []".to_string()
    } else {
        format!(
            "it accepts {}",
            defaults.iter().map(|(key, _)| format!("'{key}'")).collect::<Vec<_>>().join(", ")
        )
    }
}

/// Checks that `value` has the kind of `default` (see the module documentation).
fn check_kind(key: &str, value: &Tuple, default: &PluginValue) -> Result<()> {
    let elements = value.elements();
    let (fits, expected) = match default {
        PluginValue::Int(_) => (matches!(elements, [Element::Integer(_)]), "one integer"),
        PluginValue::Real(_) => (
            matches!(elements, [Element::Integer(_)])
                || matches!(elements, [Element::Real(v)] if v.is_finite()),
            "one number",
        ),
        PluginValue::String(_) => (matches!(elements, [Element::String(_)]), "one string"),
        PluginValue::List(_) => (
            elements.iter().all(|element| {
                matches!(element, Element::Integer(_) | Element::Real(_) | Element::String(_))
            }),
            "a tuple of integers, reals and strings",
        ),
        PluginValue::Map(_) => (
            matches!(elements, [Element::Handle(handle)]
                if handle.as_ref().is_ok_and(|h| h.object::<Dict>().is_ok())),
            "one dict handle",
        ),
    };
    if fits {
        return Ok(());
    }
    let shown = match default.to_tuple() {
        Ok(tuple) if !matches!(default, PluginValue::Map(_)) => tuple.to_string(),
        _ => format!("a {}", default.kind()),
    };
    Err(invalid(format!(
        "GenParam: '{key}' takes {expected} (its default is {shown}), got {value}"
    )))
}

/// The options to compile with: every key of the device's `'optimize_for_inference_params'`
/// in the device's order, with the value of `gen_param` where given and the default
/// otherwise. `device_label` names the device in messages. Errors: see the module.
pub fn checked(
    device: &PluginDevice,
    device_label: &str,
    gen_param: Option<&Dict>,
) -> Result<Vec<(String, Tuple)>> {
    let defaults = device.optimize_params()?;
    let given = gen_param.map(Dict::snapshot).unwrap_or_default();
    for (key, value) in &given {
        let key = match key {
            DictKey::String(key) => &**key,
            DictKey::Integer(number) => {
                return Err(invalid(format!(
                    "GenParam: key {number} is not a string; {device_label} takes named options ({})",
                    known_keys(&defaults)
                )));
            }
        };
        let Some((_, default)) = defaults.iter().find(|(name, _)| name == key) else {
            return Err(invalid(format!(
                "GenParam: unknown key '{key}' for {device_label} ({}; see its 'optimize_for_inference_params')",
                known_keys(&defaults)
            )));
        };
        let DictValue::Tuple(tuple) = value else {
            return Err(invalid(format!(
                "GenParam: '{key}' holds an iconic object; options are control values"
            )));
        };
        check_kind(key, tuple, default)?;
    }
    let lookup = gen_param.map(|dict| move |key: &str| dict.get_tuple(KeyRef::String(key)).ok());
    defaults
        .iter()
        .map(|(key, default)| {
            let value = match lookup.as_ref().and_then(|lookup| lookup(key)) {
                Some(tuple) => tuple,
                None => default.to_tuple()?,
            };
            Ok((key.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_must_have_the_kind_of_the_default() {
        let int = PluginValue::Int(4);
        assert!(check_kind("n", &Tuple::from_integers([8]), &int).is_ok());
        let error = check_kind("n", &Tuple::from_strings(["8"]).unwrap(), &int).unwrap_err();
        assert_eq!(error.code, 4321);
        assert!(
            error.message.contains("'n' takes one integer (its default is 4)"),
            "{}",
            error.message
        );
        let real = PluginValue::Real(0.5);
        assert!(check_kind("r", &Tuple::from_integers([1]), &real).is_ok());
        assert!(check_kind("r", &Tuple::single(Element::Real(f64::NAN)), &real).is_err());
        let text = PluginValue::String("auto".into());
        assert!(check_kind("s", &Tuple::from_strings(["fast"]).unwrap(), &text).is_ok());
        assert!(check_kind("s", &Tuple::new(), &text).is_err());
        let list = PluginValue::List(vec![]);
        assert!(check_kind("l", &Tuple::new(), &list).is_ok());
        assert!(check_kind("l", &Tuple::from_integers([1, 2]), &list).is_ok());
        let map = PluginValue::Map(vec![]);
        assert!(check_kind("m", &Tuple::from_integers([1]), &map).is_err());
        let dict = crate::handle::HandleRef::new(Dict::new()).unwrap();
        assert!(check_kind("m", &Tuple::single(Element::handle(dict)), &map).is_ok());
    }

    #[test]
    fn known_keys_are_listed() {
        assert!(known_keys(&[]).contains("accepts none"));
        let keys = vec![("a".to_string(), PluginValue::Int(1)), ("b".into(), PluginValue::Int(2))];
        assert_eq!(known_keys(&keys), "it accepts 'a', 'b'");
    }
}
