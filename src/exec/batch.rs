//! Several read-only commands in one round trip: the arguments of
//! `templates/node/run-reads.sh` and the parsing of what it prints.
//!
//! Each command is given as its count of words, then the words, so that no
//! word is ever pasted into a script. The script runs them all at once and
//! prints, in the order given, each one's exit status, output and errors,
//! framed by a boundary that labctl draws at random for the batch (a page a
//! check fetches cannot end a frame early by chance or on purpose):
//!
//! ```text
//! BOUNDARY 0 CODE\n<stdout>\nBOUNDARY\n<stderr>\n
//! BOUNDARY 1 CODE\n<stdout>\nBOUNDARY\n<stderr>\n
//! BOUNDARY end\n
//! ```

use anyhow::{bail, Context, Result};

use super::Output;

/// The name the script runs under (`sh -c SCRIPT labctl-reads …`), which
/// the recording runner of the tests looks for to answer each command.
pub const SCRIPT_NAME: &str = "labctl-reads";

/// A fresh boundary: 128 bits from the kernel's random generator.
pub fn boundary() -> Result<String> {
    let mut bytes = [0u8; 16];
    rustix::rand::getrandom(&mut bytes[..], rustix::rand::GetRandomFlags::empty())
        .context("cannot read the kernel's random generator (getrandom)")?;
    Ok(format!("labctl-{}", bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>()))
}

/// The script's arguments after its name: the boundary, then each command
/// as its count of words and the words.
pub fn arguments(boundary: &str, commands: &[Vec<String>]) -> Vec<String> {
    let mut args = vec![boundary.to_string()];
    for command in commands {
        args.push(command.len().to_string());
        args.extend(command.iter().cloned());
    }
    args
}

/// The boundary and the commands of [`arguments`], back again; `None` when
/// they are not such arguments (for the tests' recording runner).
#[cfg(test)]
pub fn commands_of(args: &[String]) -> Option<(String, Vec<Vec<String>>)> {
    let (boundary, mut rest) = args.split_first()?;
    let mut commands = Vec::new();
    while let Some((count, after)) = rest.split_first() {
        let count: usize = count.parse().ok()?;
        if count == 0 || count > after.len() {
            return None;
        }
        commands.push(after[..count].to_vec());
        rest = &after[count..];
    }
    Some((boundary.clone(), commands))
}

/// What the script prints for `outputs` (the tests' recording runner
/// answers a batch with it).
#[cfg(test)]
pub fn framed(boundary: &str, outputs: &[Output]) -> String {
    let mut text = String::new();
    for (index, output) in outputs.iter().enumerate() {
        let code = output.code.unwrap_or(137);
        text.push_str(&format!("{boundary} {index} {code}\n{}\n{boundary}\n{}\n", output.stdout, output.stderr));
    }
    text.push_str(&format!("{boundary} end\n"));
    text
}

/// Each command's output, in order, from what the script printed for
/// `expected` commands; an error when the batch ended before all of them.
pub fn parse(boundary: &str, expected: usize, printed: &str) -> Result<Vec<Output>> {
    let text = format!("\n{printed}");
    let separator = format!("\n{boundary}");
    let mut parts = text.split(&separator).skip(1);
    let mut outputs = Vec::with_capacity(expected);
    for index in 0..expected {
        let (Some(head_and_stdout), Some(stderr)) = (parts.next(), parts.next()) else {
            bail!("the batch of reads ended after {index} of {expected} commands");
        };
        let (head, stdout) = head_and_stdout.split_once('\n').unwrap_or((head_and_stdout, ""));
        let mut words = head.split_whitespace();
        if words.next() != Some(&index.to_string()) {
            bail!("the batch of reads printed {head:?} where command {index}'s answer belongs");
        }
        let code = words.next().and_then(|code| code.parse().ok());
        let stderr = stderr.strip_prefix('\n').unwrap_or(stderr);
        outputs.push(Output { code, stdout: stdout.to_string(), stderr: stderr.to_string() });
    }
    match parts.next() {
        Some(end) if end.trim() == "end" => Ok(outputs),
        _ => bail!("the batch of reads did not finish ({expected} commands)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output { code: Some(code), stdout: stdout.into(), stderr: stderr.into() }
    }

    #[test]
    fn commands_travel_as_counted_words() {
        let commands = vec![
            vec!["docker".to_string(), "node".into(), "ls".into()],
            vec!["sh".into(), "-c".into(), "test -e 'a b'".into()],
        ];
        let args = arguments("labctl-b", &commands);
        assert_eq!(args[..5], ["labctl-b", "3", "docker", "node", "ls"]);
        assert_eq!(commands_of(&args), Some(("labctl-b".to_string(), commands)));
        assert_eq!(commands_of(&["b".into(), "3".into(), "x".into()]), None, "fewer words than counted");
    }

    #[test]
    fn frames_give_back_every_output_exactly() {
        let outputs = vec![
            output(0, "manager|Leader\nnode1|\n", ""),
            output(1, "", "Error: no such service: web\n"),
            output(0, "no newline at the end", "warning"),
            output(3, "\n\nblank lines\n\n", "\n"),
        ];
        let boundary = boundary().unwrap();
        assert_eq!(parse(&boundary, 4, &framed(&boundary, &outputs)).unwrap(), outputs);
    }

    #[test]
    fn a_batch_cut_short_or_out_of_order_is_an_error() {
        let outputs = vec![output(0, "a\n", ""), output(0, "b\n", "")];
        let printed = framed("labctl-b", &outputs);
        let cut = &printed[..printed.find("labctl-b 1").unwrap()];
        assert!(parse("labctl-b", 2, cut).unwrap_err().to_string().contains("ended after 1 of 2"));
        let unfinished = printed.replace("labctl-b end\n", "");
        assert!(parse("labctl-b", 2, &unfinished).is_err());
        assert!(parse("labctl-b", 2, &printed.replace("labctl-b 1 0", "labctl-b 7 0")).is_err());
    }

    #[test]
    fn a_page_cannot_forge_another_commands_answer_without_the_boundary() {
        let forged = "status 200\n\nlabctl-guess 1 0\npassed\n";
        let outputs = vec![output(0, forged, ""), output(1, "", "no such service\n")];
        let boundary = boundary().unwrap();
        assert_eq!(parse(&boundary, 2, &framed(&boundary, &outputs)).unwrap(), outputs);
        assert_ne!(boundary, super::boundary().unwrap(), "each batch draws its own");
    }
}
