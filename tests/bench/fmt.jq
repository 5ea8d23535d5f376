# fmt.jq - number formats shared by merge.jq and md.jq (jq -L tests/bench, include "fmt").

# A ratio (never negative) with two decimals: 1.2 -> "1.20", 12.345 -> "12.35".
def fix2: (. * 100 | round | tostring) as $c | ("00" + $c)[-2:] as $d
  | ($c | .[:length - 2]) as $i | (if $i == "" then "0" else $i end) + "." + $d;
