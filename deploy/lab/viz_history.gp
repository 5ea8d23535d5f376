# viz_history.gp - the pictures of a recorded history (deploy/lab/viz.sh
# history writes the data files): every operation's latency over time by
# type and outcome with the fault windows, operations/s by outcome, the
# latency CDFs with bootstrap bands, the slowest operation per node and bin.
#   gnuplot -e "dir='OUT'; nodes='n1 n2 ...'; dur=SECONDS; name='NAME'" viz_history.gp
nn = words(nodes)
set grid
do for [t in 'png svg'] {
    if (t eq 'png') { set terminal pngcairo noenhanced size 1100,760 font ',9' } else { set terminal svg noenhanced size 1100,760 font ',9' }

    # -- latency and throughput over time, fault windows shaded
    set output dir.'/history_timeline.'.t
    set multiplot layout 2,1 title name.': client operations over time, fault windows shaded'
    set xrange [0:dur]
    load dir.'/windows.gp'
    set logscale y
    set ylabel 'invoke -> completion, ms'
    set key outside right top font ',8'
    set title 'latency of every operation (o ok, x fail, + unknown)'
    plot for [op=0:2] dir.'/ops.txt' using ($2 == op && strcol(4) eq 'ok' ? $1 : 1/0):3 with points pt 6 ps 0.3 lc op + 1 \
             title (op == 0 ? 'get' : op == 1 ? 'put' : 'delete'), \
         for [op=0:2] dir.'/ops.txt' using ($2 == op && strcol(4) eq 'fail' ? $1 : 1/0):3 with points pt 2 ps 0.6 lc op + 1 notitle, \
         for [op=0:2] dir.'/ops.txt' using ($2 == op && strcol(4) eq 'unknown' ? $1 : 1/0):3 with points pt 1 ps 0.6 lc op + 1 notitle
    unset logscale y
    set title 'operations completed per second'
    set ylabel 'ops/s'
    set xlabel 'time since the first invoke, s'
    plot dir.'/tput.txt' using 1:2 with steps lw 2 lc rgb '#2a9d8f' title 'ok', \
         dir.'/tput.txt' using 1:3 with steps lw 2 lc rgb '#e63946' title 'fail', \
         dir.'/tput.txt' using 1:4 with steps lw 2 dt 2 lc rgb '#6a4c93' title 'unknown'
    unset multiplot
    unset output
    unset object
    unset label
    unset xlabel
    set autoscale x

    # -- latency CDFs with bootstrap 95 % bands
    set output dir.'/history_latency.'.t
    set title name.': operation latency, bootstrap 95 % bands'
    set logscale x
    set autoscale xfix
    set xlabel 'invoke -> completion, ms (log)'
    set ylabel 'fraction of operations'
    set yrange [0:1.02]
    set key inside bottom right
    plot dir.'/band_get.txt' using 1:3:4 with filledcurves fc rgb '#1f77b4' fs transparent solid 0.3 noborder title 'get 95 % band', \
         dir.'/band_get.txt' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'get', \
         dir.'/band_put.txt' using 1:3:4 with filledcurves fc rgb '#d62728' fs transparent solid 0.3 noborder title 'put 95 % band', \
         dir.'/band_put.txt' using 1:2 with lines lw 2 lc rgb '#d62728' title 'put'
    unset output
    unset logscale x
    set autoscale

    # -- the slowest operation per node and time bin
    set output dir.'/history_heat.'.t
    stats dir.'/heat.txt' using 3 nooutput
    hi = STATS_max
    set title name.': slowest operation per node and time bin (ms, log colour)'
    set xrange [0:dur]
    set yrange [-0.5:nn - 0.5]
    set ytics ()
    do for [i=1:nn] { set ytics add (word(nodes, i) i - 1) }
    set logscale cb
    set cbrange [0.1:hi]
    set palette defined (0 '#fff7ec', 1 '#fdbb84', 2 '#e34a33', 3 '#7f0000')
    set xlabel 'time since the first invoke, s'
    set ylabel ''
    unset grid
    unset key
    plot dir.'/heat.txt' using 1:2:3 with image
    unset output
    unset logscale cb
    set autoscale
    set ytics autofreq
    set grid
    set key
}
