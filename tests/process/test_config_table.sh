#!/usr/bin/env bash
# test_config_table.sh - the node's options are documented from one table
# (node/cmd/config.c): README.md's configuration table must be exactly what
# `edgekv config-table` prints, and `edgekv origin --help` / `edgekv edge
# --help` must show every option of that table with the same default, and
# no option it lacks. Starts no node.
#
# After changing an option, regenerate README.md's copy with
#   edgekv config-table   (between the config-table markers of README.md)
source "$(dirname "$0")/lib.sh"
README=${README:-"$(dirname "$0")/../../README.md"}

set +e
"$EDGEKV" config-table >"$TMP/table.md" 2>"$TMP/table.err"
RC=$?
set -e
check "config-table exits 0" 0 "$RC"
# The header, the rule, then one row per option: an empty table proves nothing.
rows=$(($(wc -l <"$TMP/table.md") - 2))
if [[ $rows -gt 20 ]]; then ok "config-table prints $rows option rows"; else bad "config-table: $rows rows"; fi

# ---- README.md's copy -----------------------------------------------------------------
sed -n '/^<!-- BEGIN config-table/,/^<!-- END config-table -->/p' "$README" | sed '1d;$d' \
  >"$TMP/readme.md"
if [[ ! -s "$TMP/readme.md" ]]; then
  bad "README.md has no config-table markers"
elif diff -u "$TMP/readme.md" "$TMP/table.md" >"$TMP/readme.diff"; then
  ok "README.md's configuration table is the generated one"
else
  bad "README.md's configuration table differs from \`edgekv config-table\` (- README, + generated):"
  cat "$TMP/readme.diff"
fi

# ---- --help against the table ---------------------------------------------------------
# block FILE HEADER_RE : the lines of one option in --help output, from its
# header line to the next header (or the blank line ending a section).
block() {
  awk -v re="$2" 'on && (/^  [-"]/ || /^$/) { exit } $0 ~ re { on = 1 } on { print }' "$1"
}
strip() { # strip CELL : sets S to the cell without backticks and outer spaces
  S=${1//\`/}
  S=${S#"${S%%[! ]*}"}
  S=${S%"${S##*[! ]}"}
}

for role in origin edge; do
  set +e
  "$EDGEKV" "$role" --help >"$TMP/help.$role" 2>"$TMP/help.$role.err"
  RC=$?
  set -e
  check "$role --help exits 0" 0 "$RC"
  missing=0 wrong=0
  while IFS= read -r row; do
    row=${row//\\|/$'\x01'} # an escaped | inside a cell
    IFS='|' read -r _ flag key dflt meaning _ <<<"$row"
    strip "$flag" && flag=$S
    strip "$key" && key=$S
    strip "$dflt" && dflt=$S
    strip "$meaning" && meaning=$S
    dflt=${dflt//$'\x01'/|}
    # A default that differs by role reads "ORIGIN (edge: EDGE)".
    if [[ $role == edge && $dflt == *" (edge: "* ]]; then
      want=${dflt#* (edge: }
      want=${want%)}
    else
      want=${dflt%% (edge: *}
    fi
    if [[ -n $flag ]]; then
      name=${flag%% *}
      re="^  $name( |\$)"
    else
      name=\"$key\"
      re="^  \"$key\":"
    fi
    block "$TMP/help.$role" "$re" >"$TMP/block"
    if [[ ! -s "$TMP/block" ]]; then
      bad "$role --help lacks $name"
      missing=$((missing + 1))
      continue
    fi
    if [[ -n $flag && -n $key ]] && ! head -1 "$TMP/block" | grep -qF "(file: \"$key\")"; then
      bad "$role --help: $name does not name its file key \"$key\""
      wrong=$((wrong + 1))
    fi
    # An option of the other role is listed too; its default is checked in
    # its own role's help, where the table's default is taken.
    [[ $meaning == origin:* && $role == edge ]] && continue
    [[ $meaning == edge:* && $role == origin ]] && continue
    if ! grep -qxF "        default: $want" "$TMP/block"; then
      bad "$role --help: $name shows [$(grep 'default:' "$TMP/block" | sed 's/^ *//')], the table [$want]"
      wrong=$((wrong + 1))
    fi
  done < <(tail -n +3 "$TMP/table.md")
  [[ $missing -eq 0 ]] && ok "$role --help lists every option of the table"
  [[ $wrong -eq 0 ]] && ok "$role --help shows the table's defaults and file keys"
  # ... and nothing the table lacks.
  shown=$(grep -cE '^  [-"]' "$TMP/help.$role" || true)
  check "$role --help lists as many options as the table" "$rows" "$shown"
done

finish
