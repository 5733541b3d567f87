//! MIG profile names such as `1g.10gb` or `1g.10gb+me`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A parsed MIG GPU-instance profile name: `<compute>g.<memory>gb[<attribute>]`.
///
/// This is only the *name*; whether a GPU model offers the profile is a separate question
/// (see [`crate::model`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileName {
    /// Compute slices (the `g` number), 1..=7.
    pub compute_slices: u8,
    /// Memory in whole GB as NVIDIA names it (`10` in `1g.10gb`), not the exact MiB.
    pub memory_gb: u16,
    /// The suffix NVIDIA appends for a variant profile, if any.
    pub attribute: Option<ProfileAttribute>,
}

/// Variant suffixes of profile names, as NVIDIA and mig-parted spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileAttribute {
    /// `+me`: the instance also gets the media extensions (one NVDEC, NVJPG and the OFA).
    MediaExtensions,
    /// `+me.all`: all media engines of the GPU (Blackwell).
    AllMediaExtensions,
    /// `-me`: no media engines (Blackwell).
    NoMediaExtensions,
    /// `+gfx`: graphics capable (RTX PRO Blackwell).
    Graphics,
}

impl ProfileAttribute {
    /// Suffixes longest first, so `+me.all` is not read as `+me` followed by junk.
    const ALL: [(Self, &'static str); 4] = [
        (Self::AllMediaExtensions, "+me.all"),
        (Self::MediaExtensions, "+me"),
        (Self::NoMediaExtensions, "-me"),
        (Self::Graphics, "+gfx"),
    ];

    /// The suffix as written in a profile name.
    pub fn suffix(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, s)| s)
    }
}

/// Why a string is not a MIG profile name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileNameError {
    /// The overall shape is wrong.
    #[error(
        "`{input}` is not a MIG profile name: expected `<compute>g.<memory>gb`, for example `1g.10gb` or `3g.40gb`"
    )]
    Malformed {
        /// The rejected input.
        input: String,
    },
    /// The compute slice count is outside 1..=7.
    #[error("`{input}` asks for {slices} compute slices: a MIG GPU has 1 to 7")]
    ComputeOutOfRange {
        /// The rejected input.
        input: String,
        /// The compute slice count it named.
        slices: u32,
    },
}

impl FromStr for ProfileName {
    type Err = ProfileNameError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let malformed = || ProfileNameError::Malformed {
            input: input.to_owned(),
        };
        let (base, attribute) = ProfileAttribute::ALL
            .iter()
            .find_map(|(attr, suffix)| input.strip_suffix(suffix).map(|base| (base, Some(*attr))))
            .unwrap_or((input, None));
        let (compute, memory) = base.split_once("g.").ok_or_else(malformed)?;
        let memory = memory.strip_suffix("gb").ok_or_else(malformed)?;
        let all_digits =
            |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(compute) || !all_digits(memory) {
            return Err(malformed());
        }
        let slices: u32 = compute.parse().map_err(|_| malformed())?;
        let memory_gb: u16 = memory.parse().map_err(|_| malformed())?;
        if !(1..=7).contains(&slices) {
            return Err(ProfileNameError::ComputeOutOfRange {
                input: input.to_owned(),
                slices,
            });
        }
        if memory_gb == 0 {
            return Err(malformed());
        }
        Ok(Self {
            compute_slices: slices as u8,
            memory_gb,
            attribute,
        })
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}g.{}gb", self.compute_slices, self.memory_gb)?;
        if let Some(attribute) = self.attribute {
            f.write_str(attribute.suffix())?;
        }
        Ok(())
    }
}

/// The extended-resource prefix of MIG slices under the device plugin's mixed strategy.
pub const MIG_RESOURCE_PREFIX: &str = "nvidia.com/mig-";

impl ProfileName {
    /// The Kubernetes extended resource NVIDIA's device plugin advertises for this profile (mixed
    /// strategy): `nvidia.com/mig-3g.40gb`. A resource name may not hold `+`, so the plugin writes
    /// it as `.`: `1g.10gb+me` is `nvidia.com/mig-1g.10gb.me`, `1g.24gb+me.all` is
    /// `nvidia.com/mig-1g.24gb.me.all`; `-me` stays as it is.
    #[must_use]
    pub fn resource_name(&self) -> String {
        resource_name(&self.to_string())
    }

    /// The profile a device-plugin resource name stands for (the inverse of
    /// [`ProfileName::resource_name`]); `None` for any other resource.
    #[must_use]
    pub fn from_resource_name(resource: &str) -> Option<Self> {
        let rest = resource.strip_prefix(MIG_RESOURCE_PREFIX)?;
        // `<c>g.<m>gb` then an optional suffix, spelled with `.` where the profile has `+`.
        let (base, suffix) = rest.split_at(rest.find("gb")? + 2);
        let suffix = match suffix {
            "" | "-me" => suffix.to_owned(),
            s => format!("+{}", s.strip_prefix('.')?),
        };
        format!("{base}{suffix}").parse().ok()
    }
}

/// [`ProfileName::resource_name`] for a profile name as text (`+` written as `.`).
#[must_use]
pub fn resource_name(profile: &str) -> String {
    format!("{MIG_RESOURCE_PREFIX}{}", profile.replace('+', "."))
}

impl Serialize for ProfileName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProfileName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_h100_profile() {
        for name in [
            "1g.10gb",
            "1g.10gb+me",
            "1g.20gb",
            "2g.20gb",
            "3g.40gb",
            "4g.40gb",
            "7g.80gb",
            "1g.24gb+me.all",
            "1g.24gb-me",
            "2g.48gb+gfx",
        ] {
            let parsed: ProfileName = name.parse().expect(name);
            assert_eq!(parsed.to_string(), name);
        }
        let p: ProfileName = "3g.40gb".parse().expect("valid");
        assert_eq!((p.compute_slices, p.memory_gb, p.attribute), (3, 40, None));
        let me: ProfileName = "1g.24gb+me.all".parse().expect("valid");
        assert_eq!(me.attribute, Some(ProfileAttribute::AllMediaExtensions));
    }

    #[test]
    fn rejects_malformed_names_with_a_reason() {
        for bad in [
            "",
            "3g",
            "3g.40",
            "g.40gb",
            "3g.gb",
            "3x.40gb",
            "-1g.10gb",
            "1g.10gb+",
            "1g.10gbme",
            "1g.10gb+me+me",
            "1g.10gb+xy",
            "99999g.1gb",
        ] {
            let err = bad.parse::<ProfileName>().expect_err(bad);
            assert!(
                err.to_string().contains(bad),
                "error for {bad:?} must quote it: {err}"
            );
        }
        assert_eq!(
            "8g.80gb".parse::<ProfileName>(),
            Err(ProfileNameError::ComputeOutOfRange {
                input: "8g.80gb".into(),
                slices: 8
            })
        );
    }

    /// A Kubernetes extended resource name's name part: at most 63 characters of
    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?` (the prefix is a DNS subdomain).
    fn valid_resource_name(resource: &str) -> bool {
        let Some((prefix, name)) = resource.split_once('/') else {
            return false;
        };
        let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        prefix == "nvidia.com"
            && !name.is_empty()
            && name.len() <= 63
            && edge(name.chars().next())
            && edge(name.chars().last())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    }

    #[test]
    fn every_profile_of_every_model_has_a_valid_resource_name_that_reads_back() {
        let mut seen = 0;
        for model in crate::model::GpuModel::all() {
            for spec in &model.spec().profiles {
                let profile = spec.profile_name();
                let resource = profile.resource_name();
                assert!(valid_resource_name(&resource), "{model:?} {profile}: {resource}");
                assert_eq!(spec.resource_name(), resource, "{model:?} {profile}");
                assert_eq!(
                    ProfileName::from_resource_name(&resource),
                    Some(profile),
                    "{model:?} {resource}"
                );
                seen += 1;
            }
        }
        assert!(seen > 40, "only {seen} profiles walked");
        // NVIDIA's spellings, as the device plugin advertises them.
        for (profile, resource) in [
            ("1g.10gb+me", "nvidia.com/mig-1g.10gb.me"),
            ("1g.24gb+me.all", "nvidia.com/mig-1g.24gb.me.all"),
            ("1g.24gb-me", "nvidia.com/mig-1g.24gb-me"),
            ("2g.48gb+gfx", "nvidia.com/mig-2g.48gb.gfx"),
            ("3g.40gb", "nvidia.com/mig-3g.40gb"),
        ] {
            let p: ProfileName = profile.parse().expect(profile);
            assert_eq!(p.resource_name(), resource);
            assert_eq!(ProfileName::from_resource_name(resource), Some(p));
        }
        for other in ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb+me", "nvidia.com/mig-1g.10gb.xy", "amd.com/mig-1g.10gb"] {
            assert_eq!(ProfileName::from_resource_name(other), None, "{other}");
        }
    }

    #[test]
    fn serde_uses_the_nvidia_spelling() {
        let p: ProfileName = serde_json::from_str("\"2g.20gb\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("serialize"), "\"2g.20gb\"");
        assert!(serde_json::from_str::<ProfileName>("\"2g20gb\"").is_err());
    }
}
