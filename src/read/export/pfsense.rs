//! The pfsense device export reader (being written: see issue 13).

use crate::read::device::{Device, DeviceError};

/// Reads a pfsense device export into the device model.
pub fn read(text: &str) -> Result<Device, DeviceError> {
    let _ = text;
    Err(DeviceError::at(
        0,
        0,
        "reading a pfsense device export is not supported yet",
    ))
}
