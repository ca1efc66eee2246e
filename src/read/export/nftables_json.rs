pub(super) fn parse(_t: &str) -> Result<super::Ruleset, crate::read::device::DeviceError> { todo!() }
