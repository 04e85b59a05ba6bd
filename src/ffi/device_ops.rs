//! The device operators: `query_available_dl_devices`, `get_dl_device_param`,
//! `set_dl_device_param`.

use super::boundary::{input, operator, output, write_tuple};
use super::types::Htuple;
use crate::device::{self, DlDevice};
use crate::error::{Herror, Result};
use crate::handle::HandleRef;
use crate::tuple::params::gen_param_pairs;
use crate::tuple::{Element, Tuple};

/// `*DLDeviceHandles` receives one new handle per device matching the filters: each name in
/// `GenParamName` is a device parameter (see `get_dl_device_param`) with the value at the
/// same position in `GenParamValue`. Values given for the same name are alternatives (OR);
/// different names must all match (AND). A list parameter (e.g. `'precisions'`) matches if
/// it contains the value. Empty tuples give every device. The native CPU device
/// (`'ai_accelerator_interface'` = `'none'`, `'runtime'` = `'cpu'`) comes first, then the
/// devices of every AI² plugin that loaded (`'runtime'` = `'ai_accelerator'`), in load order.
/// Vendor keys (`'<interface>.<key>'`) filter too. A plugin device that cannot answer a
/// filter does not match (the reason is logged to stderr).
///
/// The first call searches and loads the AI² plugins (see `get_system('ai2_plugins')`).
///
/// Errors: an unknown or dict-valued parameter name (1301); names and values of different
/// counts (1402). When no device matches and an `'ai_accelerator_interface'` value names a
/// plugin that failed to load (by its interface name or file name without `.so`), that
/// plugin's error with its reason: 8600 (cannot be loaded), 8602 (entry symbol missing),
/// 8603 (ABI mismatch, incomplete table), 4320 (its initialization failed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn query_available_dl_devices(
    gen_param_name: Htuple,
    gen_param_value: Htuple,
    dl_device_handles: *mut Htuple,
) -> Herror {
    operator("query_available_dl_devices", || {
        let names = unsafe { input(gen_param_name, 1, "GenParamName") }?;
        let values = unsafe { input(gen_param_value, 2, "GenParamValue") }?;
        let out = unsafe { output(dl_device_handles, 3, "DLDeviceHandles") }?;
        let mut filters: Vec<(&str, Vec<&Element>)> = Vec::new();
        for (name, value) in gen_param_pairs(&names, &values)? {
            match filters.iter_mut().find(|(existing, _)| *existing == name) {
                Some((_, alternatives)) => alternatives.push(value),
                None => filters.push((name, vec![value])),
            }
        }
        let handles = device::query(&filters)?
            .into_iter()
            .map(|device| HandleRef::new(DlDevice { device }).map(Element::handle))
            .collect::<Result<Vec<_>>>()?;
        write_tuple(out, Tuple::from_elements(handles));
        Ok(())
    })
}

/// `*GenParamValue` receives the device parameter `GenParamName`: `'type'` (`'cpu'`, or
/// what the plugin says), `'name'`, `'id'`, `'runtime'` (`'cpu'`, or `'ai_accelerator'`
/// for plugin devices), `'ai_accelerator_interface'` (`'none'` for the native device, the
/// plugin's interface name otherwise), `'conversion_supported'`, `'precisions'`,
/// `'cast_precisions'`, `'calibration_precisions'`, `'inference_only'`, and as dicts (a new
/// dict handle each call) `'info'`, `'optimize_for_inference_params'`,
/// `'settable_device_params'`. Plugin devices also answer their vendor keys
/// (`'<interface>.<key>'`).
/// Errors: unknown name `H_ERR_HAI2_INVALID_PARAM` (4321); a plugin's error mapped to its
/// HALCON number with the plugin's message (4320 for a malformed answer).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_dl_device_param(
    dl_device_handle: Htuple,
    gen_param_name: Htuple,
    gen_param_value: *mut Htuple,
) -> Herror {
    operator("get_dl_device_param", || {
        let device =
            unsafe { input(dl_device_handle, 1, "DLDeviceHandle") }?.object::<DlDevice>()?;
        let name = unsafe { input(gen_param_name, 2, "GenParamName") }?.string()?;
        let out = unsafe { output(gen_param_value, 3, "GenParamValue") }?;
        let value = device.device.param(name)?;
        write_tuple(out, value);
        Ok(())
    })
}

/// Sets a device parameter listed in `'settable_device_params'` (the native device:
/// `'num_threads'`, 1 to 4 x the logical cores; plugin devices: what the plugin lists, the
/// value passed on as one value, a list for several elements, or a map for a dict handle).
/// The change applies to every handle of the device and to inference started afterwards
/// (models a plugin compiled before may keep the old setting). Errors: unknown name or bad
/// value 4321 (with the plugin's message for plugin devices).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn set_dl_device_param(
    dl_device_handle: Htuple,
    gen_param_name: Htuple,
    gen_param_value: Htuple,
) -> Herror {
    operator("set_dl_device_param", || {
        let device =
            unsafe { input(dl_device_handle, 1, "DLDeviceHandle") }?.object::<DlDevice>()?;
        let name = unsafe { input(gen_param_name, 2, "GenParamName") }?.string()?;
        let value = unsafe { input(gen_param_value, 3, "GenParamValue") }?;
        device.device.set_param(name, value.tuple)
    })
}
