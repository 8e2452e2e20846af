//! The warning-light and pressing (督办) ladder.
//!
//! A ladder is a list of steps, each at a share of the running limit (75 %, 100 %, 150 %,
//! 200 % by default) with a light, an action and who is told; past the last step the last
//! action repeats every `repeat_every` share until the case is closed, suspended or extended.
//! Level `n` is the `n`-th time the ladder fires for one clock (1-based).

use serde::{Deserialize, Serialize};

/// Warning light of a running clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// Within the limit, before the first warning.
    #[default]
    Green,
    /// 黄灯: warning, deadline approaching.
    Yellow,
    /// 红灯: overdue.
    Red,
}

/// One step of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderStep {
    /// Share of the limit used when the step fires, e.g. 0.75.
    pub share: f64,
    /// Light from this step on.
    pub light: Light,
    /// Action name, e.g. `reminder`, `pressing`, `yellow_card`, `red_card`.
    pub action: String,
    /// Label for people, e.g. 催办, 普通督办, 黄牌督办, 红牌督办.
    pub label: String,
    /// Who is told, e.g. 中队, 中队长, 大队, 局.
    pub notify: String,
}

/// The ladder as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    steps: Vec<LadderStep>,
    repeat_every: f64,
}

/// What fires at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation<'a> {
    /// The level, from 1.
    pub level: u32,
    /// Share of the limit used when it fires.
    pub share: f64,
    /// The step it repeats or is.
    pub step: &'a LadderStep,
    /// 0 for a configured step, n for the n-th repetition of the last step.
    pub repetition: u32,
}

impl Ladder {
    /// Builds a ladder; shares must be positive and strictly increasing, `repeat_every`
    /// positive, and there must be at least one step.
    pub fn new(steps: Vec<LadderStep>, repeat_every: f64) -> Result<Self, String> {
        if steps.is_empty() {
            return Err("the escalation ladder needs at least one step".into());
        }
        let mut previous = 0.0;
        for (i, step) in steps.iter().enumerate() {
            if !(step.share.is_finite() && step.share > previous) {
                return Err(format!(
                    "step {} ({}): share {} must be greater than the previous step's {previous}",
                    i + 1,
                    step.action,
                    step.share
                ));
            }
            previous = step.share;
        }
        if !(repeat_every.is_finite() && repeat_every > 0.0) {
            return Err(format!("repeat_every must be a positive share, got {repeat_every}"));
        }
        Ok(Self { steps, repeat_every })
    }

    /// The escalation at `level` (1-based); levels past the configured steps repeat the last
    /// step every `repeat_every`. Level 0 has none.
    pub fn at(&self, level: u32) -> Option<Escalation<'_>> {
        let index = usize::try_from(level).ok()?.checked_sub(1)?;
        if let Some(step) = self.steps.get(index) {
            return Some(Escalation { level, share: step.share, step, repetition: 0 });
        }
        let last = self.steps.last()?;
        let repetition = u32::try_from(index + 1 - self.steps.len()).ok()?;
        let share = last.share + f64::from(repetition) * self.repeat_every;
        Some(Escalation { level, share, step: last, repetition })
    }

    /// The configured steps.
    pub fn steps(&self) -> &[LadderStep] {
        &self.steps
    }

    /// The level name used in statistics: the step's action, or `<action>_repeat`.
    pub fn level_name(&self, level: u32) -> String {
        match self.at(level) {
            Some(e) if e.repetition == 0 => e.step.action.clone(),
            Some(e) => format!("{}_repeat", e.step.action),
            None => "none".into(),
        }
    }
}

impl Default for Ladder {
    /// The default ladder of DOMAIN.md.
    fn default() -> Self {
        let step = |share, light, action: &str, label: &str, notify: &str| LadderStep {
            share,
            light,
            action: action.into(),
            label: label.into(),
            notify: notify.into(),
        };
        Self {
            steps: vec![
                step(0.75, Light::Yellow, "reminder", "催办", "中队"),
                step(1.0, Light::Red, "pressing", "普通督办", "中队长"),
                step(1.5, Light::Red, "yellow_card", "黄牌督办", "大队"),
                step(2.0, Light::Red, "red_card", "红牌督办", "局"),
            ],
            repeat_every: 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ladder_repeats_the_red_card() {
        let ladder = Ladder::default();
        assert_eq!(ladder.at(0), None);
        assert_eq!(ladder.at(1).map(|e| e.share), Some(0.75));
        assert_eq!(ladder.at(4).map(|e| e.step.label.as_str()), Some("红牌督办"));
        let fifth = ladder.at(5).expect("repeats forever");
        assert_eq!((fifth.share, fifth.repetition, fifth.step.notify.as_str()), (2.5, 1, "局"));
        assert_eq!(ladder.level_name(6), "red_card_repeat");
    }

    #[test]
    fn shares_must_increase() {
        let mut steps = Ladder::default().steps().to_vec();
        steps.swap(0, 1);
        assert!(Ladder::new(steps, 0.5).is_err());
        assert!(Ladder::new(Ladder::default().steps().to_vec(), 0.0).is_err());
    }
}
