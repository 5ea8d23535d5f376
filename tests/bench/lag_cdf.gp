# lag_cdf.gp - the CDF of write -> visible delay, edgekv (all edges) vs the
# Redis replica, from the .dat files tests/bench/merge.sh writes ("delay_ms
# fraction" lines, sorted). Called as
#   gnuplot -e "dir='DIR'; sub='subtitle'; ne='edgekv label'; nr='redis label'" lag_cdf.gp
# and writes DIR/lag_cdf.png and DIR/lag_cdf.svg.
set title "write → visible delay: CDF\n{/*0.8 ".sub."}"
set xlabel "delay from just before the write is sent until a read returns it (ms, log scale)"
set ylabel "fraction of probes (× replicas)"
set logscale x
set format x "%g"
set yrange [0:1]
set ytics 0.1
set grid xtics mxtics ytics
set key bottom right box opaque
# The p50 and p99 levels: where a curve crosses them is its median and its p99.
set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 2 lc rgb "#888888"
set arrow from graph 0, first 0.99 to graph 1, first 0.99 nohead dt 2 lc rgb "#888888"
set label "p99" at graph 0.01, first 0.975 tc rgb "#666666"
set label "p50" at graph 0.01, first 0.485 tc rgb "#666666"
set style line 1 lc rgb "#d62728" lw 2
set style line 2 lc rgb "#1f77b4" lw 2
set terminal pngcairo size 960,600 enhanced font ",10"
set output dir."/lag_cdf.png"
plot dir."/lag_cdf_edgekv.dat" using 1:2 with steps ls 1 title ne, \
     dir."/lag_cdf_redis.dat" using 1:2 with steps ls 2 title nr
set terminal svg size 960,600 enhanced font ",10" dynamic
set output dir."/lag_cdf.svg"
replot
set output
