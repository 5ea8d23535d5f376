# md.jq - all.md from all.json (tests/bench/merge.sh: jq -r -L tests/bench -f md.jq all.json).
# One table, row | edgekv | peer | ratio | target; ratio = edgekv / peer, so
# above 1 means more for a rate and slower for a delay (the row's unit says which).
include "fmt";

# 12345.6 -> "12 346"; 15.13 -> "15.1"; 0.8071 -> "0.807": three or more significant digits.
def sep: if length <= 3 then . else (.[:-3] | sep) + " " + .[-3:] end;
def num:
  if . == null then "-"
  elif fabs >= 100 then (round | tostring | sep)
  elif fabs >= 10 then (. * 10 | round / 10 | tostring)
  elif fabs >= 1 then (. * 100 | round / 100 | tostring)
  else (. * 1000 | round / 1000 | tostring) end;
def cell: if . == null then "-" else tostring | gsub("\\|"; "\\|") end;

"## edgekv benchmarks: \(.date), commit \(.commit)"
  + (if .uncommitted_changes then " (the work tree had uncommitted changes)" else "" end),
"",
"Binary: `\(.binary.path)`, modified \(.binary.modified).",
"Machine: \(.machine.cpu_model), \(.machine.cpus) CPUs, \(.machine.kernel), \(.machine.memory_gib) GiB RAM;"
  + " load average (1, 5, 15 min) \(.machine.loadavg_start) at the start, \(.machine.loadavg_end // "-") at the end.",
([(.results.hot_get // {} | if .nginx_version then "nginx \(.nginx_version) (worker_processes \(.nginx_workers))" else empty end),
  (.results.hot_get // {} | if .h2o_version then "h2o \(.h2o_version) (num-threads \(.h2o_threads))" else empty end),
  (.results.lone // {} | if .redis_version then "redis \(.redis_version) (lone: \(.redis_config))" else empty end),
  (.results.repl // {} | if .redis_version then "redis \(.redis_version) (\(.redis_config))" else empty end)]
 | if length > 0 then "Peers: " + join(", ") + "." else empty end),
"Runs: " + ([.runs[] | "\(.name) \(.status)" + (if .seconds != null then " (\(.seconds) s)" else "" end)]
  | join(", ")) + ".",
(if (.settings | length) > 0 then "Settings: " + ([.settings | to_entries[] | "`\(.key)=\(.value)`"] | join(" ")) + "."
 else "Settings: the defaults." end),
"",
"| row | edgekv | peer | ratio | target |",
"|---|--:|---|--:|---|",
(.rows[] | "| \(.row | cell) | \(.edgekv | num)\(if .note and (.note | startswith("FAILED")) then " (FAILED)" else "" end)"
  + " | \(if .peer then "\(.peer | cell): \(.peer_value | num)" else "-" end)"
  + " | \(if .ratio then (.ratio | fix2) else "-" end) | \(.target | cell) |"),
"",
"ratio: edgekv / peer in the same run (rates: above 1 is faster than the peer; ms and CPU ns: above 1 is slower).",
([.rows[] | select(.note) | "- \(.row): \(.note)"] | if length > 0 then "", "Notes:", .[] else empty end)
