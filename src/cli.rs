//! Command-line flags, shaped as the user types them. No I/O here: `plan.rs` turns these plus
//! the environment into what to do. `--password` and `--token` are held as [`Secret`](crate::secret::Secret)s, so
//! `Debug` of the flags never shows them.

use argh::FromArgs;

mod build;
mod listing;
mod push;
pub use build::BuildArgs;
pub use listing::{CatalogArgs, InspectArgs, TagsArgs};
pub use push::PushArgs;

/// What a lone `-` argument (stdin as SOURCE) becomes for argh, which takes `-` for a flag:
/// no real argument holds a NUL.
pub const STDIN: &str = "\0-";

/// Push container images to an OCI registry (by default idpbuilder's Gitea).
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,

    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Push(PushArgs),
    Build(BuildArgs),
    Catalog(CatalogArgs),
    Tags(TagsArgs),
    Inspect(InspectArgs),
    Completions(CompletionsArgs),
}

/// Print a shell completion script (bash, zsh or fish) for idpush's commands and flags.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "completions",
    example = "\
bash, for this shell or for every user:
  source <({command_name} bash)
  {command_name} bash > /etc/bash_completion.d/idpush

zsh (a directory of $fpath) and fish:
  {command_name} zsh > \"${{fpath[1]}}/_idpush\"
  {command_name} fish > ~/.config/fish/completions/idpush.fish",
    note = "The script is made from idpush's own command list and each command's flags (as `--help` shows them), \
so it matches this version; regenerate it after an upgrade. Output goes to stdout.",
    error_code(0, "printed"),
    error_code(1, "a shell other than bash, zsh or fish")
)]
pub struct CompletionsArgs {
    /// the shell: bash, zsh or fish
    #[argh(positional)]
    pub shell: String,
}

/// What the command line asks for, or why it cannot be parsed.
#[derive(Debug)]
pub enum Parsed {
    Run(Cli),
    /// `--help`: argh's text, for stdout, exit 0.
    Help(String),
    /// A usage mistake: one error line (without the `idpush: error: ` prefix) and a hint.
    Wrong { error: String, hint: String },
}

/// Parses `args` (without the program name). argh's own messages span lines ("Required
/// positional arguments not provided:\n    image\n\nRun idpush --help …"); a mistake becomes one
/// error line and one hint naming the command's `--help`.
pub fn parse(args: &[&str]) -> Parsed {
    let commands: Vec<&str> = <Command as argh::SubCommands>::COMMANDS.iter().map(|c| c.name).collect();
    let named = args.iter().find(|a| !a.starts_with('-')).copied().filter(|a| commands.contains(a));
    let help_of = named.map_or("idpush --help".to_string(), |c| format!("idpush {c} --help"));
    // A lone `-` (stdin as SOURCE) is kept as an argument: argh would take it for a flag.
    let args: Vec<&str> = args.iter().map(|a| if *a == "-" { STDIN } else { a }).collect();
    match Cli::from_args(&["idpush"], &args) {
        Ok(cli) if cli.command.is_none() && !cli.version => Parsed::Wrong {
            error: format!("give a command: {}", commands.join(", ")),
            hint: "e.g. `idpush push myapp:1.0` pushes an image of the local daemon to idpbuilder's Gitea; \
                   `idpush --help` lists the commands"
                .to_string(),
        },
        Ok(cli) => Parsed::Run(cli),
        Err(argh::EarlyExit { output, status: Ok(()) }) => Parsed::Help(output),
        Err(argh::EarlyExit { output, status: Err(()) }) => {
            // The first paragraph, its lines joined: "Required positional arguments not
            // provided: image".
            let first: Vec<&str> = output.trim().split("\n\n").next().unwrap_or("").lines().map(str::trim).collect();
            let mut error = first.join(" ");
            if let Some(c) = error.get(..1) {
                error = c.to_lowercase() + &error[1..];
            }
            Parsed::Wrong { error, hint: format!("`{help_of}` shows the usage, every flag and examples") }
        }
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    fn wrong(args: &[&str]) -> (String, String) {
        match parse(args) {
            Parsed::Wrong { error, hint } => (error, hint),
            other => panic!("{args:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn usage_mistakes_are_one_line_and_a_hint() {
        let (error, hint) = wrong(&["push"]);
        assert_eq!(error, "required positional arguments not provided: image");
        assert_eq!(hint, "`idpush push --help` shows the usage, every flag and examples");
        let (error, hint) = wrong(&["push", "--bogus", "x"]);
        assert_eq!(error, "unrecognized argument: --bogus");
        assert!(hint.contains("idpush push --help"));
        let (error, _) = wrong(&["push", "docker-archive:a.tar", "x", "y"]);
        assert!(error.contains("docker-archive:a.tar") || error.contains("y"), "{error}");
        let (error, hint) = wrong(&["frob"]);
        assert!(error.contains("frob"), "{error}");
        assert!(hint.contains("`idpush --help`"), "{hint}");
        let (error, _) = wrong(&[]);
        assert!(error.starts_with("give a command: push"), "{error}");
        for (_, args) in [("a", vec!["push"]), ("b", vec!["push", "--bogus"]), ("c", vec![])] {
            let (error, hint) = wrong(&args);
            assert!(!error.contains('\n') && !hint.contains('\n'), "{error:?} {hint:?}");
        }
    }

    #[test]
    fn help_and_version_parse() {
        assert!(matches!(parse(&["push", "--help"]), Parsed::Help(h) if h.contains("Usage: idpush push")));
        assert!(matches!(parse(&["--version"]), Parsed::Run(c) if c.version));
        assert!(matches!(parse(&["push", "a:1"]), Parsed::Run(Cli { command: Some(Command::Push(_)), .. })));
    }
}
