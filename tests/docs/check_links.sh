#!/bin/sh
# check_links.sh ROOT
# The project's documentation (ROOT/README.md and every .md under ROOT/docs)
# must stand on its own in a clone: it may point only at files inside ROOT.
# Fails, naming file and line, on
#   - a Markdown link or image whose target is absolute, leaves ROOT or does
#     not exist (web links and #anchors are not checked: no network);
#   - a relative path starting with ../ anywhere in the text (prose, code
#     spans, code blocks) that leads out of ROOT, such as ../shared/notes.md;
#   - a repository path in code (`host/core/src/module.cpp`, or a code block
#     line) that starts with one of ROOT's top-level folders but names no
#     existing file or folder, so renames cannot leave the docs behind.
set -eu
[ "$#" -eq 1 ] || { echo "usage: check_links.sh ROOT" >&2; exit 2; }
root=$(realpath -e -- "$1")

# Top-level source folders: what a path in code must start with to be checked.
# Build trees (build/, build-*/, as .gitignore has them) are not sources.
folders=""
for d in "$root"/*/; do
    name=$(basename "$d")
    case $name in build | build-*) continue ;; esac
    folders="$folders $name"
done

docs=$(
    [ -f "$root/README.md" ] && echo "$root/README.md"
    [ -d "$root/docs" ] && find "$root/docs" -name '*.md' | sort
    true
)
[ -n "$docs" ] || { echo "check_links.sh: no README.md or docs/*.md in $root" >&2; exit 2; }

# Prints "kind<TAB>line<TAB>text" for every candidate in one Markdown file:
#   link  a Markdown link or image target, or a reference definition's target
#   up    a token that begins with ../
#   path  a token in code that begins with "<top-level folder>/"
extract() {
    awk -v folders="$folders" '
    BEGIN { n = split(folders, f, " "); for (i = 1; i <= n; i++) top[f[i]] = 1 }
    function emit(kind, text) { printf "%s\t%d\t%s\n", kind, NR, text }
    # Tokens of code text that start with a top-level folder.
    function code_paths(text,    count, words, i, w, slash) {
        count = split(text, words, /[ \t]+/)
        for (i = 1; i <= count; i++) {
            w = words[i]
            sub(/^[("\047]+/, "", w)
            sub(/[,;:.)"\047]+$/, "", w)
            sub(/:[0-9]+$/, "", w)             # file.lua:12
            if (w ~ /[<>*{}$]/) continue       # placeholders and globs
            slash = index(w, "/")
            if (slash > 1 && (substr(w, 1, slash - 1) in top)) emit("path", w)
        }
    }
    function link(target) {
        sub(/^[ \t]*/, "", target)
        sub(/^</, "", target)
        sub(/[> \t].*$/, "", target)
        linked[target] = 1
        emit("link", target)
    }
    # [text](target "title"), ![alt](target) and [label]: target
    function links(text,    rest) {
        rest = text
        while (match(rest, /\]\([^)]*\)/)) {
            link(substr(rest, RSTART + 2, RLENGTH - 3))
            rest = substr(rest, RSTART + RLENGTH)
        }
        if (match(text, /^ ? ? ?\[[^]]+\]:[ \t]*[^ \t]/)) {
            rest = text
            sub(/^ ? ? ?\[[^]]+\]:/, "", rest)
            link(rest)
        }
    }
    /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
    {
        line = $0
        split("", linked)
        if (!fenced) links(line)
        # ../ at the start of a token: relative to this file, so it may leave
        # the repository (a link target is checked as a link instead).
        rest = " " line
        while (match(rest, /[ \t`("\047=<[]\.\.\/[^ \t`)"\047>\]]*/)) {
            token = substr(rest, RSTART + 1, RLENGTH - 1)
            if (!(token in linked)) emit("up", token)
            rest = substr(rest, RSTART + RLENGTH)
        }
        if (fenced) { code_paths(line); next }
        rest = line
        while (match(rest, /`[^`]+`/)) {
            code_paths(substr(rest, RSTART + 1, RLENGTH - 2))
            rest = substr(rest, RSTART + RLENGTH)
        }
    }' "$1"
}

inside() {
    case $1 in "$root" | "$root"/*) return 0 ;; esac
    return 1
}

tab=$(printf '\t')
candidates=$(mktemp "${TMPDIR:-/tmp}/check_links.XXXXXX")
trap 'rm -f "$candidates"' EXIT
problems=0
for file in $docs; do
    dir=$(dirname "$file")
    shown=${file#"$root"/}
    extract "$file" >"$candidates"
    while IFS="$tab" read -r kind line text; do
        problem=""
        case $kind in
        link)
            case $text in
            '' | '#'* | [a-zA-Z]*:*) continue ;; # anchors, http:, mailto:
            /*) problem="link '$text' is an absolute path; link files of the repository relatively" ;;
            esac
            if [ -z "$problem" ]; then
                target=${text%%#*}
                target=${target%%\?*}
                resolved=$(realpath -m -- "$dir/$target")
                if ! inside "$resolved"; then
                    problem="link '$text' leads outside the repository (to $resolved)"
                elif [ ! -e "$resolved" ]; then
                    problem="link '$text' names no file of the repository (${resolved#"$root"/} does not exist)"
                fi
            fi
            ;;
        up)
            resolved=$(realpath -m -- "$dir/$text")
            inside "$resolved" ||
                problem="'$text' points outside the repository (to $resolved); a clone does not have it"
            ;;
        path)
            [ -e "$root/$text" ] ||
                problem="'$text' names no file or folder of the repository"
            ;;
        esac
        if [ -n "$problem" ]; then
            echo "$shown:$line: $problem"
            problems=$((problems + 1))
        fi
    done <"$candidates"
done

if [ "$problems" -gt 0 ]; then
    echo "check_links.sh: $problems reference(s) in the docs point outside the repository or at nothing" >&2
    exit 1
fi
echo "check_links.sh: every link and path in $(echo "$docs" | wc -l) Markdown file(s) stays inside the repository"
