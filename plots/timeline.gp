# timeline.gp: latency over simulated time with the arrival rate behind it, one run.
#
# Data (written by `fleetsim plot`): one row per time bin, by arrival time:
# "bin start (s)<TAB>arrivals per s<TAB>TTFT p50 (ms)<TAB>TTFT p99 (ms)<TAB>TPOT p50 (ms)
# <TAB>TPOT p99 (ms)"; NaN where a bin has no request. Lines starting with # are comments.
# Usage: gnuplot -e "datafile='timeline-1.tsv'; outfile='t.png'; runname='#1 x'; binsize=10" timeline.gp
if (!exists("runname")) runname = ''
if (!exists("binsize")) binsize = 1
dirof(s) = strlen(s) == 0 ? './' : s[strlen(s):] eq '/' ? s : dirof(s[1:strlen(s)-1])
load dirof(ARG0) . 'common.gp'
set title 'Latency over time, ' . runname . sprintf(' (%g s bins, by arrival)', binsize) font ',14'
set xlabel 'simulated time (s)'
set ylabel 'latency (ms)'
set logscale y
set y2label 'arrival rate (req/s)'
set y2tics
set y2range [0:*]
set xrange [0:*]
set autoscale xfixmax
set key outside right center vertical
set style fill transparent solid 0.25 noborder
set boxwidth binsize absolute
plot datafile using ($1 + binsize / 2.0):2 axes x1y2 with boxes lc rgb '#9e9e9e' title 'arrival rate (right axis)', \
     '' using ($1 + binsize / 2.0):3 with lines lt 1 dt 2 title 'TTFT p50', \
     '' using ($1 + binsize / 2.0):4 with lines lt 1 title 'TTFT p99', \
     '' using ($1 + binsize / 2.0):5 with lines lt 2 dt 2 title 'TPOT p50', \
     '' using ($1 + binsize / 2.0):6 with lines lt 2 title 'TPOT p99'
