# pbs_tvis.gp - the PBS recipe's figure: P(consistent read) t ms after a
# write's commit for the four published WARS scenarios, from each run's
# NAME.tvis.csv (edgekv-sim --out DIR), with the 95 % binomial band of its
# trials (p +- 1.96 sqrt(p (1 - p) / trials)).
#   gnuplot -e "dir='DIR'; out='OUT_PREFIX'" sim/figures/pbs_tvis.gp
set datafile separator ','
set grid
set key bottom right
set logscale x
set xrange [0.01:10000]
set yrange [0.3:1.005]
set xlabel 't after the commit, ms (log)'
set ylabel 'P(consistent read)'
set title 'PBS t-visibility, WARS model (N=3, R=W=1), 10^6 trials each, 95 % band'
names = 'pbs_lnkd_ssd pbs_lnkd_disk pbs_ymmr pbs_wan'
labels = 'LNKD-SSD LNKD-DISK YMMR WAN'
band(p, n) = 1.96 * sqrt(p * (1 - p) / n)
do for [t in 'png svg'] {
    if (t eq 'png') { set terminal pngcairo noenhanced size 900,560 font ',9' } else { set terminal svg noenhanced size 900,560 font ',9' }
    set output out.'.'.t
    plot for [i=1:4] dir.'/'.word(names, i).'/'.word(names, i).'.tvis.csv' \
             using ($1 > 0 ? $1 : 1/0):($2 - band($2, $4)):($2 + band($2, $4)) every ::1 \
             with filledcurves fs transparent solid 0.3 noborder lc i notitle, \
         for [i=1:4] dir.'/'.word(names, i).'/'.word(names, i).'.tvis.csv' \
             using ($1 > 0 ? $1 : 1/0):2 every ::1 with lines lw 2 lc i title word(labels, i)
    unset output
}
