//! What a member's line asks for. Anything that is not a command is text for the room, so
//! a slash is the only character a member has to think about (`//` sends a leading `/`).

/// One parsed line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Text for everyone else.
    Say(&'a str),
    /// An empty line: nothing to do.
    Nothing,
    Nick(&'a str),
    Who,
    Msg {
        to: &'a str,
        text: &'a str,
    },
    /// `/quit`, or the classic client's `BYE` line.
    Quit,
    /// A known command without its arguments; holds the usage to show.
    Usage(&'static str),
    Unknown(&'a str),
}

pub const HELP: &str = "/nick NAME, /who, /msg NICK TEXT, /quit";

/// Command names are case-insensitive; arguments keep their case.
pub fn parse(line: &str) -> Command<'_> {
    if line.is_empty() {
        return Command::Nothing;
    }
    // The classic client ends its session with exactly these three bytes.
    if line == "BYE" {
        return Command::Quit;
    }
    let Some(body) = line.strip_prefix('/') else { return Command::Say(line) };
    if body.starts_with('/') {
        return Command::Say(body);
    }
    let (name, args) = body.split_once(' ').map_or((body, ""), |(n, a)| (n, a.trim_start_matches(' ')));
    let is = |want: &str| name.eq_ignore_ascii_case(want);
    if is("nick") {
        match args.trim_end_matches(' ') {
            "" => Command::Usage("/nick NAME"),
            nick => Command::Nick(nick),
        }
    } else if is("who") {
        Command::Who
    } else if is("msg") {
        match args.split_once(' ') {
            Some((to, text)) if !text.trim_start_matches(' ').is_empty() => {
                Command::Msg { to, text: text.trim_start_matches(' ') }
            }
            _ => Command::Usage("/msg NICK TEXT"),
        }
    } else if is("quit") {
        Command::Quit
    } else {
        Command::Unknown(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_commands_and_escapes() {
        assert_eq!(parse("hello there"), Command::Say("hello there"));
        assert_eq!(parse(""), Command::Nothing);
        assert_eq!(parse("  "), Command::Say("  "));
        assert_eq!(parse("//etc/passwd is a path"), Command::Say("/etc/passwd is a path"));
        assert_eq!(parse("/nick alice"), Command::Nick("alice"));
        assert_eq!(parse("/NICK  alice "), Command::Nick("alice"));
        assert_eq!(parse("/nick a b"), Command::Nick("a b"), "refused later, as a bad nick");
        assert_eq!(parse("/nick"), Command::Usage("/nick NAME"));
        assert_eq!(parse("/who"), Command::Who);
        assert_eq!(parse("/msg bob  hi  there"), Command::Msg { to: "bob", text: "hi  there" });
        assert_eq!(parse("/msg bob"), Command::Usage("/msg NICK TEXT"));
        assert_eq!(parse("/msg bob   "), Command::Usage("/msg NICK TEXT"));
        assert_eq!(parse("/quit"), Command::Quit);
        assert_eq!(parse("/quit now"), Command::Quit);
        assert_eq!(parse("/dance"), Command::Unknown("dance"));
        assert_eq!(parse("/"), Command::Unknown(""));
    }

    #[test]
    fn only_the_exact_classic_bye_ends_a_session() {
        assert_eq!(parse("BYE"), Command::Quit);
        assert_eq!(parse("bye"), Command::Say("bye"));
        assert_eq!(parse("BYE "), Command::Say("BYE "));
    }
}
