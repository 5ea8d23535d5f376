# world300_tvis.gp - the README's push vs pull t-visibility plot
# (sim/docs/world300_tvis.png/.svg) from the probe columns of two runs'
# tvis.csv. Run by make-figures.sh:
#   gnuplot -e "push='P/tvis.csv'; pull='L/tvis.csv'; out='DIR/world300_tvis'" world300_tvis.gp
# Delta 0 is drawn at 1 ms (a log axis has no 0).
set datafile separator ','
set logscale x
set xrange [1:120000]
set yrange [0:1.02]
set grid
set key bottom right
set title '300 edges over 30 places, 100 writes/s: edgekv push vs cache-TTL pull (60 s)'
set xlabel 'time since commit, ms (log scale)'
set ylabel 'P(read at a random edge sees the write)'
x(d) = d > 0 ? d : 1
do for [t in 'png svg'] {
    if (t eq 'png') {
        set terminal pngcairo size 900,500
    } else {
        set terminal svg size 900,500
    }
    set output out.'.'.t
    plot push every ::1 using (x($1)):2 with linespoints pt 7 lw 2 title 'push (edgekv)', \
         pull every ::1 using (x($1)):2 with linespoints pt 5 lw 2 title 'pull, cacheTtl 60 s'
    unset output
}
