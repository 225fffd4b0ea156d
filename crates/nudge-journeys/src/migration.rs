//! Moving live instances onto a new version of their journey, when the new version's
//! `migrate` block asks for it and the instance's step maps onto one of its steps.

use crate::instance::Instance;
use crate::model::{Journey, Migration};

/// The instance moved to `new` (version updated, step mapped, timer kept), or `None` when it
/// stays on its version: it has finished, belongs to another journey, is already at this
/// version or a later one, or its step does not map.
pub fn migrate(instance: &Instance, new: &Journey, new_version: i64) -> Option<Instance> {
    if !instance.is_active() || instance.journey != new.id || instance.version >= new_version {
        return None;
    }
    let target = new.migrate.target(instance.step.as_deref()?, new)?;
    Some(Instance {
        version: new_version,
        step: Some(target.to_string()),
        ..instance.clone()
    })
}

impl Migration {
    /// The step of `new` an instance at `old_step` moves to.
    pub fn target<'a>(&'a self, old_step: &'a str, new: &Journey) -> Option<&'a str> {
        let target = match self.steps.get(old_step) {
            Some(mapped) => mapped.as_str(),
            None if self.by_step_id => old_step,
            None => return None,
        };
        new.step(target).map(|_| target)
    }
}
