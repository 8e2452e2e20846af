//! Which public reports wait for on-site verification (核实) before they are filed, and which
//! grid supervisor (监督员) verifies them.
//!
//! Reports from the public (hotline calls, citizen-app reports) can be wrong: nothing there,
//! the wrong place, not the city's business. Filing them unverified inflates 立案数 and sends
//! squads to problems that are not there, so a city names the channels (and optionally the
//! categories) whose reports a supervisor of the place verifies first. Patrol reports come
//! from supervisors and are filed directly; camera alerts are filed directly unless the city
//! sets a confidence under which they are verified too.

use crate::category::CategoryCode;
use crate::ids::{CommunityCode, Reference, StreetCode};
use crate::report::{Channel, Report};
use crate::ticket::OnDissatisfied;

/// The supervisors who verify reports in one street or community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorArea {
    /// A street (9 digits) or a community (12 digits).
    pub area: String,
    /// Their accounts (usernames); one is picked per report.
    pub supervisors: Vec<String>,
}

/// The city's verification and reply rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerificationPolicy {
    /// Channels whose reports wait for verification (hotline, citizen); empty: none wait.
    pub channels: Vec<Channel>,
    /// Only reports of these categories wait; empty: every category of those channels.
    pub categories: Vec<CategoryCode>,
    /// Camera alerts under this confidence wait for verification; `None`: cameras are filed
    /// directly.
    pub camera_below: Option<f32>,
    /// Who verifies where; a community's list wins over its street's.
    pub supervisors: Vec<SupervisorArea>,
    /// What a dissatisfied reply does.
    pub on_dissatisfied: OnDissatisfied,
}

impl VerificationPolicy {
    /// Whether `report` waits for verification before it is filed.
    pub fn needs(&self, report: &Report) -> bool {
        let by_channel = match report.channel {
            Channel::Camera => self.camera_below.is_some_and(|floor| report.confidence.is_some_and(|c| c < floor)),
            Channel::Patrol => false,
            channel => self.channels.contains(&channel),
        };
        by_channel && (self.categories.is_empty() || self.categories.contains(&report.category))
    }

    /// The supervisor who verifies a report in `community` of `street`: one of the
    /// community's, else one of the street's, the same one whenever the report is routed
    /// again (picked by its reference); `None` where the city names nobody.
    pub fn verifier(&self, street: Option<&StreetCode>, community: Option<&CommunityCode>, reference: &Reference) -> Option<String> {
        let listed =
            |code: Option<&str>| code.and_then(|code| self.supervisors.iter().find(|a| a.area == code && !a.supervisors.is_empty()));
        let area = listed(community.map(CommunityCode::as_str)).or_else(|| listed(street.map(StreetCode::as_str)))?;
        // FNV-1a: stable across builds and processes.
        let hash =
            reference.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        let index = usize::try_from(hash % area.supervisors.len() as u64).unwrap_or(0);
        area.supervisors.get(index).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> VerificationPolicy {
        VerificationPolicy {
            channels: vec![Channel::Hotline, Channel::Citizen],
            camera_below: Some(0.8),
            supervisors: vec![
                SupervisorArea { area: "320381001".into(), supervisors: vec!["street.a".into(), "street.b".into()] },
                SupervisorArea { area: "320381001001".into(), supervisors: vec!["community.a".into()] },
            ],
            ..Default::default()
        }
    }

    fn report(channel: Channel, confidence: Option<f32>) -> Report {
        let category = CategoryCode::parse("E0102").expect("code");
        let at = crate::time::Timestamp::from_millis(0);
        Report { confidence, ..Report::new(Reference::new("261201-00000001"), channel, at, category) }
    }

    #[test]
    fn public_reports_wait_and_patrol_reports_do_not() {
        let p = policy();
        assert!(p.needs(&report(Channel::Hotline, None)));
        assert!(p.needs(&report(Channel::Citizen, None)));
        assert!(!p.needs(&report(Channel::Patrol, None)));
        assert!(p.needs(&report(Channel::Camera, Some(0.7))), "an unsure camera waits");
        assert!(!p.needs(&report(Channel::Camera, Some(0.9))), "a sure one is filed directly");
        let only_e0104 = VerificationPolicy { categories: vec![CategoryCode::parse("E0104").expect("code")], ..policy() };
        assert!(!only_e0104.needs(&report(Channel::Hotline, None)));
        assert!(!VerificationPolicy::default().needs(&report(Channel::Hotline, None)), "nothing waits unless configured");
    }

    #[test]
    fn the_communitys_supervisor_wins_and_the_pick_is_stable() {
        let p = policy();
        let street = StreetCode::parse("320381001").expect("street");
        let community = CommunityCode::parse("320381001001").expect("community");
        let other = CommunityCode::parse("320381001002").expect("community");
        let r = Reference::new("261201-00000001");
        assert_eq!(p.verifier(Some(&street), Some(&community), &r).as_deref(), Some("community.a"));
        let picked = p.verifier(Some(&street), Some(&other), &r).expect("the street's");
        assert!(["street.a", "street.b"].contains(&picked.as_str()));
        assert_eq!(p.verifier(Some(&street), Some(&other), &r), Some(picked), "the same on a replay");
        assert_eq!(p.verifier(None, None, &r), None);
    }
}
