//! Between the protocol's types and the store's.

use ferrix_store::derivation::{Derivation, Output};
use ferrix_store::path::StoreDir;
use ferrix_store::store::{
    BuildMode, BuildResult, BuildStatus, DerivedPath, GcAction, GcOptions, Missing, OutputsSpec,
    StoreError,
};

pub fn derived_path(p: &ferrix_wire::DerivedPath) -> DerivedPath {
    match p {
        ferrix_wire::DerivedPath::Opaque(p) => DerivedPath::Opaque(p.clone()),
        ferrix_wire::DerivedPath::Built { drv, outputs } => DerivedPath::Built {
            drv: drv.clone(),
            outputs: if outputs.is_empty() || outputs.contains("*") {
                OutputsSpec::All
            } else {
                OutputsSpec::Names(outputs.clone())
            },
        },
    }
}

pub fn build_mode(m: ferrix_wire::BuildMode) -> BuildMode {
    match m {
        ferrix_wire::BuildMode::Normal => BuildMode::Normal,
        ferrix_wire::BuildMode::Repair => BuildMode::Repair,
        ferrix_wire::BuildMode::Check => BuildMode::Check,
    }
}

pub fn missing(m: Missing) -> ferrix_wire::MissingInfo {
    ferrix_wire::MissingInfo {
        will_build: m.will_build,
        will_substitute: m.will_substitute,
        unknown: m.unknown,
        download_size: m.download_size,
        nar_size: m.nar_size,
    }
}

pub fn gc_options(o: &ferrix_wire::GcOptions) -> GcOptions {
    GcOptions {
        action: match o.action {
            ferrix_wire::request::GcAction::ReturnLive => GcAction::ReturnLive,
            ferrix_wire::request::GcAction::ReturnDead => GcAction::ReturnDead,
            ferrix_wire::request::GcAction::DeleteDead => GcAction::DeleteDead,
            ferrix_wire::request::GcAction::DeleteSpecific => GcAction::DeleteSpecific,
        },
        paths: o.paths_to_delete.clone(),
        ignore_liveness: o.ignore_liveness,
        max_freed: o.max_freed,
    }
}

/// The derivation a `BuildDerivation` request carries (it names no input derivations).
pub fn derivation(d: &ferrix_wire::BasicDerivation, dir: &StoreDir) -> Derivation {
    Derivation {
        outputs: d
            .outputs
            .iter()
            .map(|(name, o)| {
                (
                    name.as_bytes().to_vec(),
                    Output {
                        path: o
                            .path
                            .as_ref()
                            .map(|p| dir.display(p).into_bytes())
                            .unwrap_or_default(),
                        hash_algo: o.hash_algo.as_bytes().to_vec(),
                        hash: o.hash.as_bytes().to_vec(),
                    },
                )
            })
            .collect(),
        input_drvs: Default::default(),
        input_srcs: d
            .input_srcs
            .iter()
            .map(|p| dir.display(p).into_bytes())
            .collect(),
        platform: d.platform.clone(),
        builder: d.builder.clone(),
        args: d.args.clone(),
        env: d.env.clone(),
    }
}

fn status(s: BuildStatus) -> ferrix_wire::BuildStatus {
    use ferrix_wire::BuildStatus as W;
    match s {
        BuildStatus::Built => W::Built,
        BuildStatus::Substituted => W::Substituted,
        BuildStatus::AlreadyValid => W::AlreadyValid,
        BuildStatus::PermanentFailure => W::PermanentFailure,
        BuildStatus::InputRejected => W::InputRejected,
        BuildStatus::OutputRejected => W::OutputRejected,
        BuildStatus::TransientFailure => W::TransientFailure,
        BuildStatus::CachedFailure => W::CachedFailure,
        BuildStatus::TimedOut => W::TimedOut,
        BuildStatus::MiscFailure => W::MiscFailure,
        BuildStatus::DependencyFailed => W::DependencyFailed,
        BuildStatus::LogLimitExceeded => W::LogLimitExceeded,
        BuildStatus::NotDeterministic => W::NotDeterministic,
        BuildStatus::ResolvesToAlreadyValid => W::ResolvesToAlreadyValid,
        BuildStatus::NoSubstituters => W::NoSubstituters,
    }
}

pub fn build_result(r: &BuildResult) -> ferrix_wire::BuildResult {
    let mut w = ferrix_wire::BuildResult::new(status(r.status), r.error_msg.clone());
    w.times_built = u32::try_from(r.times_built).unwrap_or(u32::MAX);
    w.is_non_deterministic = r.is_non_deterministic;
    w.start_time = r.start_time;
    w.stop_time = r.stop_time;
    w
}

/// The status of a failed build request.
pub fn failure_status(e: &StoreError) -> ferrix_wire::BuildStatus {
    match e {
        StoreError::Build { status, .. } if status & 0x60 == 0x60 => {
            if status & 0x01 != 0 {
                ferrix_wire::BuildStatus::TimedOut
            } else {
                ferrix_wire::BuildStatus::PermanentFailure
            }
        }
        _ => ferrix_wire::BuildStatus::MiscFailure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrix_store::path::StorePath;

    #[test]
    fn derived_paths_keep_their_outputs() {
        let drv = StorePath::from_base_name("ivlnvab4q9c7wbsvbfsvgaa15j9p6206-x.drv").unwrap();
        let all = ferrix_wire::DerivedPath::Built {
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
        let some = ferrix_wire::DerivedPath::Built {
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
