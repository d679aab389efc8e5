//! Between the protocol's types and the store's (the `Store` trait's).

use ferrix_store::store::{
    BuildMode, BuildResult, DerivedPath, GcAction, GcOptions, Missing, OutputsSpec, StoreError,
};

pub fn derived_path(p: &crate::DerivedPath) -> DerivedPath {
    match p {
        crate::DerivedPath::Opaque(p) => DerivedPath::Opaque(p.clone()),
        crate::DerivedPath::Built { drv, outputs } => DerivedPath::Built {
            drv: drv.clone(),
            outputs: if outputs.is_empty() || outputs.contains("*") {
                OutputsSpec::All
            } else {
                OutputsSpec::Names(outputs.clone())
            },
        },
    }
}

/// The protocol's form of a build request.
pub fn to_wire_derived_path(p: &DerivedPath) -> crate::DerivedPath {
    match p {
        DerivedPath::Opaque(p) => crate::DerivedPath::Opaque(p.clone()),
        DerivedPath::Built { drv, outputs } => crate::DerivedPath::Built {
            drv: drv.clone(),
            outputs: match outputs {
                OutputsSpec::All => Default::default(),
                OutputsSpec::Names(n) => n.clone(),
            },
        },
    }
}

pub fn to_wire_build_mode(m: BuildMode) -> crate::BuildMode {
    match m {
        BuildMode::Normal => crate::BuildMode::Normal,
        BuildMode::Repair => crate::BuildMode::Repair,
        BuildMode::Check => crate::BuildMode::Check,
    }
}

pub fn from_wire_missing(m: crate::MissingInfo) -> Missing {
    Missing {
        will_build: m.will_build,
        will_substitute: m.will_substitute,
        unknown: m.unknown,
        download_size: m.download_size,
        nar_size: m.nar_size,
    }
}

pub fn to_wire_gc_options(o: &GcOptions) -> crate::GcOptions {
    crate::GcOptions {
        action: match o.action {
            GcAction::ReturnLive => crate::request::GcAction::ReturnLive,
            GcAction::ReturnDead => crate::request::GcAction::ReturnDead,
            GcAction::DeleteDead => crate::request::GcAction::DeleteDead,
            GcAction::DeleteSpecific => crate::request::GcAction::DeleteSpecific,
        },
        paths_to_delete: o.paths.clone(),
        ignore_liveness: o.ignore_liveness,
        max_freed: o.max_freed,
    }
}

/// A build result from the wire; a realisation that does not parse is an error.
pub fn from_wire_build_result(r: &crate::BuildResult) -> Result<BuildResult, StoreError> {
    let mut built_outputs = std::collections::BTreeMap::new();
    for (id, json) in &r.built_outputs {
        let real = ferrix_store::realisation::Realisation::from_json(json, id)
            .map_err(|e| StoreError::Other(e.to_string()))?;
        built_outputs.insert(id.clone(), real);
    }
    Ok(BuildResult {
        status: r.status,
        error_msg: String::from_utf8_lossy(&r.error_msg).into_owned(),
        times_built: u64::from(r.times_built),
        is_non_deterministic: r.is_non_deterministic,
        start_time: r.start_time,
        stop_time: r.stop_time,
        built_outputs,
    })
}

pub fn build_mode(m: crate::BuildMode) -> BuildMode {
    match m {
        crate::BuildMode::Normal => BuildMode::Normal,
        crate::BuildMode::Repair => BuildMode::Repair,
        crate::BuildMode::Check => BuildMode::Check,
    }
}

pub fn missing(m: Missing) -> crate::MissingInfo {
    crate::MissingInfo {
        will_build: m.will_build,
        will_substitute: m.will_substitute,
        unknown: m.unknown,
        download_size: m.download_size,
        nar_size: m.nar_size,
    }
}

pub fn gc_options(o: &crate::GcOptions) -> GcOptions {
    GcOptions {
        action: match o.action {
            crate::request::GcAction::ReturnLive => GcAction::ReturnLive,
            crate::request::GcAction::ReturnDead => GcAction::ReturnDead,
            crate::request::GcAction::DeleteDead => GcAction::DeleteDead,
            crate::request::GcAction::DeleteSpecific => GcAction::DeleteSpecific,
        },
        paths: o.paths_to_delete.clone(),
        ignore_liveness: o.ignore_liveness,
        max_freed: o.max_freed,
    }
}

pub fn build_result(r: &BuildResult) -> crate::BuildResult {
    let mut w = crate::BuildResult::new(r.status, r.error_msg.clone());
    w.times_built = u32::try_from(r.times_built).unwrap_or(u32::MAX);
    w.is_non_deterministic = r.is_non_deterministic;
    w.start_time = r.start_time;
    w.stop_time = r.stop_time;
    w.built_outputs = r
        .built_outputs
        .iter()
        .map(|(id, real)| (id.clone(), real.to_json()))
        .collect();
    w
}

/// The status of a failed build request.
pub fn failure_status(e: &StoreError) -> crate::BuildStatus {
    match e {
        StoreError::Build { status, .. } if status & 0x60 == 0x60 => {
            if status & 0x01 != 0 {
                crate::BuildStatus::TimedOut
            } else {
                crate::BuildStatus::PermanentFailure
            }
        }
        _ => crate::BuildStatus::MiscFailure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrix_store::path::StorePath;

    #[test]
    fn derived_paths_keep_their_outputs() {
        let drv = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-x.drv").unwrap();
        let all = crate::DerivedPath::Built {
            drv: drv.clone(),
            outputs: ["*".to_string()].into(),
        };
        assert_eq!(
            derived_path(&all),
            DerivedPath::Built {
                drv: drv.clone(),
                outputs: OutputsSpec::All
            }
        );
        let some = crate::DerivedPath::Built {
            drv: drv.clone(),
            outputs: ["dev".to_string(), "out".to_string()].into(),
        };
        assert_eq!(
            derived_path(&some),
            DerivedPath::Built {
                drv,
                outputs: OutputsSpec::Names(["dev".to_string(), "out".to_string()].into())
            }
        );
    }
}
