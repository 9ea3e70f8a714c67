# sweep.gp: throughput against latency across runs (a load sweep), TTFT and TPOT.
#
# Data (written by `fleetsim plot`): one row per run, by throughput: "run<TAB>throughput
# (req/s)<TAB>output tok/s<TAB>TTFT p50 (ms)<TAB>TTFT p99 (ms)<TAB>TPOT p50 (ms)<TAB>
# TPOT p99 (ms)". Lines starting with # are comments.
# Usage: gnuplot -e "datafile='sweep.tsv'; outfile='sweep.png'" sweep.gp
dirof(s) = strlen(s) == 0 ? './' : s[strlen(s):] eq '/' ? s : dirof(s[1:strlen(s)-1])
load dirof(ARG0) . 'common.gp'
set multiplot layout 1,2 title 'Throughput against latency' font ',14'
set xlabel 'throughput (requests/s)'
set logscale y
set key outside bottom center horizontal
set bmargin 6
set offsets graph 0.05, graph 0.05, 0, 0
set ylabel 'TTFT (ms)'
plot datafile using 2:5 with linespoints lt 1 pt 7 title 'p99', \
     '' using 2:4 with linespoints lt 1 dt 2 pt 6 title 'p50', \
     '' using 2:5:1 with labels offset 0,1 font ',9' notitle
set ylabel 'TPOT (ms)'
plot datafile using 2:7 with linespoints lt 2 pt 7 title 'p99', \
     '' using 2:6 with linespoints lt 2 dt 2 pt 6 title 'p50', \
     '' using 2:7:1 with labels offset 0,1 font ',9' notitle
unset multiplot
