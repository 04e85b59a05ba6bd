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
/// (`'ai_accelerator_interface'` = `'none'`, `'runtime'` = `'cpu'`) comes first.
///
/// Errors: an unknown or dict-valued parameter name (1301); names and values of different
/// counts (1402).
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

/// `*GenParamValue` receives the device parameter `GenParamName`: `'type'` (`'cpu'`),
/// `'name'`, `'id'`, `'runtime'`, `'ai_accelerator_interface'` (`'none'` for the native
/// device), `'conversion_supported'`, `'precisions'`, `'cast_precisions'`,
/// `'calibration_precisions'`, `'inference_only'`, and as dicts (a new dict handle each call)
/// `'info'`, `'optimize_for_inference_params'`, `'settable_device_params'`.
/// Errors: unknown name `H_ERR_HAI2_INVALID_PARAM` (4321).
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
/// `'num_threads'`, 1 to 4 x the logical cores). The change applies to every handle of the
/// device and to inference started afterwards. Errors: unknown name or bad value 4321.
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
