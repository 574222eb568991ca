//! `labctl check` over several seats: the gradebook, a row a seat and a
//! column a check, as a table, JSON or CSV for the instructor's
//! spreadsheet; and the exit status a grading script reads from it.

use anyhow::Result;
use serde::Serialize;

use super::seat_reads::Seated;
use crate::config::Seat;
use crate::exit;
use crate::lifecycle::check::Outcome;

/// One seat's checks (`check --json` of one seat is exactly this).
#[derive(Serialize)]
pub struct Report<'a> {
    pub lab: &'a str,
    /// False when the cluster is not up: nothing was checked (exit status 3).
    pub reachable: bool,
    pub passed: bool,
    pub checks: &'a [Outcome],
    /// Why the cluster could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<'a> Report<'a> {
    pub fn checked(lab: &'a str, outcomes: &'a [Outcome]) -> Report<'a> {
        let passed = outcomes.iter().all(|outcome| outcome.passed);
        Report { lab, reachable: true, passed, checks: outcomes, error: None }
    }

    pub fn unreachable(lab: &'a str, why: String) -> Report<'a> {
        Report { lab, reachable: false, passed: false, checks: &[], error: Some(why) }
    }
}

/// One row of the gradebook.
pub struct SeatGrade {
    pub seat: Seat,
    pub cluster: String,
    pub result: Seated<Vec<Outcome>>,
}

impl SeatGrade {
    /// How many checks passed, when the seat was checked.
    fn passed(&self) -> Option<usize> {
        self.result.done().map(|outcomes| outcomes.iter().filter(|outcome| outcome.passed).count())
    }

    /// The TOTAL cell: `5/7`, `unreachable`, `error`.
    fn total(&self, checks: usize) -> String {
        match (&self.result, self.passed()) {
            (_, Some(passed)) => format!("{passed}/{checks}"),
            (Seated::Unreachable(_), _) => "unreachable".to_string(),
            _ => "error".to_string(),
        }
    }
}

/// 0 every check passes on every seat, 3 a seat could not be reached (the
/// others are still graded), else 1: a check fails, or a seat's checks
/// could not run.
pub fn exit_status(grades: &[SeatGrade]) -> u8 {
    let unreachable = grades.iter().any(|grade| matches!(grade.result, Seated::Unreachable(_)));
    let all_pass = grades
        .iter()
        .all(|grade| grade.result.done().is_some_and(|outcomes| outcomes.iter().all(|outcome| outcome.passed)));
    match (unreachable, all_pass) {
        (true, _) => exit::UNREACHABLE,
        (false, true) => 0,
        (false, false) => 1,
    }
}

/// A summary line, the seats × checks table (checks by number) and the
/// numbered check names.
pub fn table(lab: &str, checks: &[String], grades: &[SeatGrade]) -> String {
    let mut header = vec!["SEAT".to_string(), "CLUSTER".to_string()];
    header.extend((1..=checks.len()).map(|number| number.to_string()));
    header.push("TOTAL".to_string());
    let mut rows = vec![header];
    for grade in grades {
        let mut row = vec![grade.seat.label(), grade.cluster.clone()];
        match grade.result.done() {
            Some(outcomes) => {
                row.extend(outcomes.iter().map(|outcome| if outcome.passed { "✓" } else { "✗" }.to_string()))
            }
            None => row.extend(checks.iter().map(|_| "·".to_string())),
        }
        row.push(grade.total(checks.len()));
        rows.push(row);
    }
    let mut text = format!("{lab}: {}\n\n", summary(grades));
    for line in crate::ui::columns(&rows) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    let numbers: Vec<Vec<String>> =
        checks.iter().enumerate().map(|(index, name)| vec![(index + 1).to_string(), name.clone()]).collect();
    for line in crate::ui::columns(&numbers) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// `3 seats: 1 passes every check, 1 fails some, 1 unreachable`
fn summary(grades: &[SeatGrade]) -> String {
    let count = |wanted: fn(&SeatGrade) -> bool| grades.iter().filter(|grade| wanted(grade)).count();
    let parts = [
        (
            count(|grade| grade.result.done().is_some_and(|outcomes| outcomes.iter().all(|o| o.passed))),
            "pass every check",
        ),
        (count(|grade| grade.result.done().is_some_and(|outcomes| outcomes.iter().any(|o| !o.passed))), "fail some"),
        (count(|grade| matches!(grade.result, Seated::Unreachable(_))), "unreachable"),
        (count(|grade| matches!(grade.result, Seated::Failed(_))), "could not be checked"),
    ];
    let said: Vec<String> =
        parts.iter().filter(|(count, _)| *count > 0).map(|(count, what)| format!("{count} {what}")).collect();
    format!("{}: {}", crate::ui::count(grades.len(), "seat"), said.join(", "))
}

/// `seat,cluster,<check names…>,passed,total`: 1 or 0 a check; a seat
/// that was not checked has empty check cells and `unreachable` or
/// `error` for passed.
pub fn csv(checks: &[String], grades: &[SeatGrade]) -> String {
    let mut header = vec!["seat".to_string(), "cluster".to_string()];
    header.extend(checks.iter().cloned());
    header.extend(["passed".to_string(), "total".to_string()]);
    let mut text = csv_line(&header);
    for grade in grades {
        let mut row = vec![grade.seat.number.to_string(), grade.cluster.clone()];
        match (grade.result.done(), grade.passed()) {
            (Some(outcomes), Some(passed)) => {
                row.extend(outcomes.iter().map(|outcome| u8::from(outcome.passed).to_string()));
                row.push(passed.to_string());
            }
            _ => {
                row.extend(checks.iter().map(|_| String::new()));
                row.push(grade.total(checks.len()));
            }
        }
        row.push(checks.len().to_string());
        text.push_str(&csv_line(&row));
    }
    text
}

/// One CSV record (RFC 4180): a field with a comma, quote or line break
/// is quoted, its quotes doubled.
fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|field| match field.contains([',', '"', '\n', '\r']) {
            true => format!("\"{}\"", field.replace('"', "\"\"")),
            false => field.clone(),
        })
        .collect();
    quoted.join(",") + "\r\n"
}

/// `check --json` over several seats: the lab, its check names and each
/// seat's report.
pub fn json(lab: &str, checks: &[String], grades: &[SeatGrade]) -> Result<String> {
    #[derive(Serialize)]
    struct Gradebook<'a> {
        lab: &'a str,
        checks: &'a [String],
        seats: Vec<SeatReport<'a>>,
    }
    #[derive(Serialize)]
    struct SeatReport<'a> {
        seat: u32,
        cluster: &'a str,
        #[serde(flatten)]
        report: Report<'a>,
    }
    let seats = grades
        .iter()
        .map(|grade| {
            let report = match &grade.result {
                Seated::Done(outcomes) => Report::checked(lab, outcomes),
                Seated::Unreachable(why) => Report::unreachable(lab, why.clone()),
                Seated::Failed(why) => {
                    Report { lab, reachable: true, passed: false, checks: &[], error: Some(why.clone()) }
                }
            };
            SeatReport { seat: grade.seat.number, cluster: &grade.cluster, report }
        })
        .collect();
    Ok(serde_json::to_string_pretty(&Gradebook { lab, checks, seats })? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(passed: bool) -> Outcome {
        Outcome {
            name: "n".into(),
            kind: "command".into(),
            passed,
            detail: String::new(),
            hint: String::new(),
            failure: None,
        }
    }

    fn grade(number: u32, result: Seated<Vec<Outcome>>) -> SeatGrade {
        SeatGrade { seat: Seat { number, of: 2 }, cluster: format!("c-s0{number}"), result }
    }

    #[test]
    fn a_seat_whose_checks_could_not_run_is_an_error_not_a_grade() {
        let grades = [grade(1, Seated::Done(vec![outcome(true)])), grade(2, Seated::Failed("timed out".into()))];
        let checks = ["n".to_string()];
        assert_eq!(exit_status(&grades), 1, "not every seat passes, and none is unreachable");
        assert_eq!(csv(&checks, &grades), "seat,cluster,n,passed,total\r\n1,c-s01,1,1,1\r\n2,c-s02,,error,1\r\n");
        let table = table("lab", &checks, &grades);
        assert!(table.starts_with("lab: 2 seats: 1 pass every check, 1 could not be checked\n"), "{table}");
        assert!(table.contains("s02   c-s02    ·  error\n"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&json("lab", &checks, &grades).unwrap()).unwrap();
        assert_eq!(
            (json["seats"][1]["reachable"].as_bool(), json["seats"][1]["passed"].as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(json["seats"][1]["error"], "timed out");
    }
}
