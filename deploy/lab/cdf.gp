# cdf.gp - the network lab's figure: write -> visible CDFs of the simulator
# and the live lab, overall and per region, from report.sh's data files.
#   gnuplot -e "dir='OUT'; name='SCENARIO'" cdf.gp  ->  OUT/cdf.png, OUT/cdf.svg
set grid
set key bottom right
set yrange [0:1.02]
set xlabel 'write -> visible at the edge, ms'
set ylabel 'fraction of (write, edge) samples'
do for [t in 'png svg'] {
    if (t eq 'png') {
        set terminal pngcairo size 1000,560
    } else {
        set terminal svg size 1000,560
    }
    set output dir.'/cdf.'.t
    set multiplot layout 1,2 title name.': simulator (solid) vs live lab (dashed)'
    set title 'all edges'
    plot dir.'/cdf_all_sim.txt' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'simulator', \
         dir.'/cdf_all_live.txt' using 1:2 with lines lw 2 dt 2 lc rgb '#d62728' title 'live'
    set title 'per region'
    set key top left font ',9'
    regions = system("awk '{print $2}' ".dir."/cdf_regions_sim.txt | uniq | tr '\\n' ' '")
    plot for [i=1:words(regions)] dir.'/cdf_regions_sim.txt' \
             using (strcol(2) eq word(regions, i) ? $3 : 1/0):4 with lines lw 2 lc i title word(regions, i), \
         for [i=1:words(regions)] dir.'/cdf_regions_live.txt' \
             using (strcol(2) eq word(regions, i) ? $3 : 1/0):4 with lines lw 2 dt 2 lc i notitle
    unset multiplot
    unset output
    set key bottom right
}
