# viz_lab.gp - the network lab's run pictures (deploy/lab/viz.sh lab writes
# the data files): the timeline with fault windows, the t-visibility CDFs
# with bootstrap bands, the lag heat map; png and svg.
#   gnuplot -e "dir='OUT'; name='NAME'; regions='r1 r2 ...'; dur=SECONDS" viz_lab.gp
nr = words(regions)
set grid
do for [t in 'png svg'] {
    if (t eq 'png') { set terminal pngcairo noenhanced size 1100,900 font ',9' } else { set terminal svg noenhanced size 1100,900 font ',9' }

    # -- the timeline: write -> visible per region, writes/s, fault windows
    set output dir.'/timeline.'.t
    set multiplot layout 3,1 title name.': write -> visible at each edge over time, fault windows shaded'
    set xrange [0:dur]
    set logscale y
    set ylabel 'write -> visible, ms'
    set key outside right top font ',8'
    do for [w in 'sim live'] {
        unset object
        unset label
        load dir.'/windows_'.w.'.gp'
        set title (w eq 'sim' ? 'simulator' : 'live lab')
        plot for [i=1:nr] dir.'/tl_'.w.'.txt' using ($2 == i - 1 ? $1 : 1/0):3 \
             with points pt 7 ps 0.35 lc i title word(regions, i)
    }
    unset logscale y
    unset object
    unset label
    load dir.'/windows_sim.gp'
    set title 'writes committed per second (fault windows of the simulator)'
    set ylabel 'writes/s'
    set xlabel 'time since the start of the run, s'
    plot dir.'/tput_sim.txt' using 1:2 with steps lw 2 lc rgb '#1f77b4' title 'simulator', \
         dir.'/tput_live.txt' using 1:2 with steps lw 2 dt 2 lc rgb '#d62728' title 'live'
    unset multiplot
    unset output
    unset object
    unset label
    unset xlabel
    set autoscale x

    # -- the t-visibility CDFs with their bootstrap 95 % bands
    set terminal push
    if (t eq 'png') { set terminal pngcairo noenhanced size 900,560 font ',9' } else { set terminal svg noenhanced size 900,560 font ',9' }
    set output dir.'/tvis_band.'.t
    set title name.': t-visibility (write -> visible), bootstrap 95 % bands'
    set logscale x
    set autoscale xfix
    set xlabel 'write -> visible at the edge, ms (log)'
    set ylabel 'fraction of (write, edge) samples'
    set yrange [0:1.02]
    set key inside bottom right
    plot dir.'/band_sim.txt' using 1:3:4 with filledcurves fc rgb '#1f77b4' fs transparent solid 0.3 noborder title 'simulator 95 % band', \
         dir.'/band_sim.txt' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'simulator', \
         dir.'/band_live.txt' using 1:3:4 with filledcurves fc rgb '#d62728' fs transparent solid 0.3 noborder title 'live 95 % band', \
         dir.'/band_live.txt' using 1:2 with lines lw 2 dt 2 lc rgb '#d62728' title 'live'
    unset output
    unset logscale x
    set autoscale y
    set terminal pop

    # -- the heat map: region x time, colour = the largest lag in the bin
    set output dir.'/heat.'.t
    set multiplot layout 2,1 title name.': largest write -> visible per region and time bin (ms, log colour)'
    set autoscale
    stats dir.'/heat_sim.txt' using 3 nooutput
    hi = STATS_max
    stats dir.'/heat_live.txt' using 3 nooutput
    hi = (STATS_max > hi ? STATS_max : hi)
    set xrange [0:dur]
    set yrange [-0.5:nr - 0.5]
    set ytics () font ',8'
    do for [i=1:nr] { set ytics add (word(regions, i) i - 1) }
    set logscale cb
    set cbrange [1:hi]
    set ylabel ''
    set palette defined (0 '#fff7ec', 1 '#fdbb84', 2 '#e34a33', 3 '#7f0000')
    unset grid
    unset key
    do for [w in 'sim live'] {
        set title (w eq 'sim' ? 'simulator' : 'live lab')
        set xlabel 'time since the start of the run, s'
        plot dir.'/heat_'.w.'.txt' using 1:2:3 with image
    }
    unset multiplot
    unset output
    unset logscale cb
    set autoscale
    set ytics autofreq
    set grid
    set key
}
