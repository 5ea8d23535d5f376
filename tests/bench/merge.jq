# merge.jq - the rows of tests/bench/all.sh's table, from the JSON of each
# sub-benchmark; run by tests/bench/merge.sh, which passes (jq -n):
#   $run   [run.json]  (date, commit, machine, settings, runs; written by all.sh)
#   $hot   [hot_get.json] or []   $lone [lone.json] or []   $repl [repl.json] or []
#   $sim   [sim_speed.json] or []   $store [store.json] or []
# A sub-benchmark that did not run, or wrote no JSON, gives no rows; a figure
# that a run could not measure (a catch-up that failed) is null, with a note.
# Output: all.json's object. `all.md` is rendered from it by md.jq.
# Not a judge: the target column repeats the stated targets; nothing is asserted.
include "fmt";

# The targets are the project's performance targets (README "Benchmarks", "Targets"):
# reads at or above nginx's requests per second, 1.5 x over HTTPS with the same certificate
# (none is stated against h2o); durable PUT
# >= 1.0 x Redis appendfsync always, lone and replicated; write -> visible p99 <= the
# Redis replica's p99; catch-up and snapshot >= 400 000/s; bulk load >= 200 000
# mutations/s durable; simulator >= 3 M events per CPU-second on world300_push.
def targets: {
  reads_nginx: "≥ 1.0", reads_nginx_https: "≥ 1.5", reads_h2o: null, writes: "≥ 1.0", delay_p99: "≤ 1.0 (the replica's p99)",
  catchup: "≥ 400 000/s", bulk: "≥ 200 000/s", sim_rate: "≥ 3 M/s", sim_wall: "< 60 s"
};

def row($id; $name; $unit; $better; $e; $peer; $p; $target; $source):
  {id: $id, row: $name, unit: $unit, better: $better, edgekv: $e, peer: $peer, peer_value: $p,
   ratio: (if $e != null and $p != null and $p != 0 then $e / $p else null end),
   target: $target, source: $source};

# hot_get: every edgekv row against both peers' baseline of its kind.
def hot_rows($h):
  if $h == null then [] else
    ($h.results | map({key: .scenario, value: .req_per_s}) | from_entries) as $rps
    | [$h.results[] | select(.scenario | startswith("edgekv")) as $e
       | ([$e.baseline,
           (if ($e.scenario | contains("(https)")) then targets.reads_nginx_https
            else targets.reads_nginx end)],
          [$e.baseline_h2o, targets.reads_h2o])
       | select(.[0] != null)
       | row("hot_get." + ($e.scenario | ltrimstr("edgekv ")) + " vs " + (.[0] | split(" ")[0]);
             "reads: " + ($e.scenario | ltrimstr("edgekv ")) + ", req/s"; "req/s"; "higher";
             $e.req_per_s; .[0]; $rps[.[0]]; .[1]; "hot_get.sh")]
  end;

# A throughput row measured in several rounds (repl.sh, EDGEKV_BENCH_TPUT_ROUNDS): its
# figures are each side's median round; the note gives every round and its ratio.
def rounds_note($e; $p):
  def d1: tostring | if contains(".") then . else . + ".0" end;
  def k: map(. / 100 | round / 10 | d1 + " k") | join(" / ");
  if ($e | length) > 1 and ($p | length) == ($e | length) then
    {note: ("median of \($e | length) rounds, edgekv and Redis alternating; every round: edgekv "
      + ($e | k) + ", Redis " + ($p | k) + ", ratio "
      + ([$e, $p] | transpose | map(.[0] / .[1] | fix2) | join(" / ")))}
  else {} end;

def lone_rows($l):
  if $l == null then [] else
    [row("lone.origin"; "durable writes at a lone origin, writes/s"; "writes/s"; "higher";
         $l.throughput.origin.writes_per_s; "redis SET, lone primary"; $l.throughput.redis.writes_per_s;
         targets.writes; "repl.sh, 0 edges")
       + rounds_note($l.throughput.rounds.origin // []; $l.throughput.rounds.redis // [])]
    + (if $l.bulk_lone == null then [] else
        [row("lone.bulk"; "bulk load at a lone origin, durable, mutations/s"; "mutations/s"; "higher";
             $l.bulk_lone.mutations_per_s; null; null; targets.bulk; "repl.sh, 0 edges")] end)
  end;

def repl_rows($r):
  if $r == null then [] else
    ($r.edges | tostring) as $n
    | ($r.catchup.failures // {}) as $failed
    | [row("repl.origin"; "durable writes at the origin with " + $n + " edges, writes/s"; "writes/s"; "higher";
           $r.throughput.origin.writes_per_s; "redis SET, primary + replica";
           $r.throughput.redis.writes_per_s; targets.writes; "repl.sh")
         + rounds_note($r.throughput.rounds.origin // []; $r.throughput.rounds.redis // []),
       row("repl.through_edge"; "durable writes through edge1, writes/s"; "writes/s"; "higher";
           $r.throughput.through_edge.writes_per_s; "redis SET, primary + replica";
           $r.throughput.redis.writes_per_s; targets.writes; "repl.sh")
         + rounds_note($r.throughput.rounds.through_edge // []; $r.throughput.rounds.redis // [])]
    + (if $r.delay == null then [] else
        [row("repl.delay_rate"; "writes achieved in the delay run, writes/s (paced: "
               + ($r.delay.rate | tostring) + ")"; "writes/s"; "higher";
             $r.delay.edgekv.achieved_rate; "redis primary"; $r.delay.redis.achieved_rate; null; "repl.sh")
         + ([["edgekv", $r.delay.edgekv], ["redis", $r.delay.redis]]
            | map(select(.[1].achieved_rate < 0.95 * $r.delay.rate) | .[0])
            | if length > 0 then {note: (join(" and ") + " below 95 % of the paced rate: every "
                + "writer connection was waiting for an ack, and the delays (from the actual send) "
                + "include queueing at the origin or primary")} else {} end)]
        + [["p50", null], ["p99", targets.delay_p99], ["max", null]] as $q
        | [$q[] | row("repl.delay_" + .[0]; "write → visible " + .[0] + ", all " + $n + " edges, ms";
                      "ms"; "lower"; $r.delay.edgekv[.[0] + "_ms"]; "redis replica";
                      $r.delay.redis[.[0] + "_ms"]; .[1]; "repl.sh")]
      end)
    + (if $r.catchup == null then [] else
        [row("repl.bulk"; "bulk load at the origin with " + ($r.edges - 1 | tostring)
               + " live edges, durable, mutations/s"; "mutations/s"; "higher";
             $r.catchup.bulk.mutations_per_s; null; null; targets.bulk; "repl.sh"),
         row("repl.catchup"; "catch-up of a restarted edge (from the "
               + ($r.catchup.restart.resumed_from // "log") + "), mutations/s"; "mutations/s"; "higher";
             (if $failed.catchup_log then null else $r.catchup.restart.mutations_per_s end);
             null; null; targets.catchup; "repl.sh")
           + (if $failed.catchup_log then {note: ("FAILED: " + $failed.catchup_log)} else {} end),
         row("repl.snapshot"; "a fresh edge (by " + ($r.catchup.fresh.resumed_from // "snapshot")
               + "), records/s"; "records/s"; "higher";
             (if $failed.catchup_snap then null else $r.catchup.fresh.records_per_s end);
             null; null; targets.catchup; "repl.sh")
           + (if $failed.catchup_snap then {note: ("FAILED: " + $failed.catchup_snap)} else {} end)]
      end)
  end;

def sim_rows($s):
  if $s == null then [] else
    [row("sim.rate"; "simulator " + $s.scenario + ", events/CPU-s"; "events/CPU-s"; "higher";
         $s.events_per_cpu_s; null; null; targets.sim_rate; "sim_speed.sh")
       + {note: ("\($s.events) events, seed \($s.seed), trace hash \($s.trace_hash); "
                 + "\($s.process_cpu_s) CPU-s for the whole process")},
     row("sim.wall"; "simulator " + $s.scenario + ", s wall"; "s"; "lower";
         $s.process_wall_s; null; null; targets.sim_wall; "sim_speed.sh")]
  end;

# store_apply.sh: edgekv's storage commit against RocksDB alone, CPU ns per mutation
# (lower is better: a ratio above 1 is edgekv's own work on top of RocksDB's).
def store_rows($s):
  if $s == null then [] else
    [[["random", $s.random], ["sequential", $s.sequential]][] as [$k, $x]
    | row("store." + $k; "storage: batch apply of \($x.batch), \($k) keys, CPU ns per mutation";
          "ns"; "lower"; $x.edgekv.cpu_ns_per_mut; "RocksDB WriteBatch, same options";
          $x.rocksdb.cpu_ns_per_mut; null; "store_apply.sh")
      + {note: ("median of \($x.rounds) rounds of \($x.muts) mutations, alternating; every round "
                + "(edgekv / RocksDB): " + ([$x.rounds_cpu_ns.edgekv, $x.rounds_cpu_ns.rocksdb]
                | transpose | map("\(.[0] | round) / \(.[1] | round)") | join(", ")))}]
  end;

$run[0] + {
  rows: (hot_rows($hot[0]) + lone_rows($lone[0]) + repl_rows($repl[0]) + sim_rows($sim[0])
         + store_rows($store[0])),
  results: {hot_get: $hot[0], lone: $lone[0], repl: $repl[0], sim_speed: $sim[0], store: $store[0]}
}
