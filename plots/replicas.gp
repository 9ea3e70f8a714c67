# replicas.gp: per-replica load, KV-cache usage and output throughput over time, one run.
#
# Data (written by `fleetsim plot`): one block per replica (blocks separated by two blank
# lines), each opening with a header line naming the replica, then rows "time (s)<TAB>
# running + waiting<TAB>running<TAB>waiting<TAB>KV usage (%)<TAB>output tok/s<TAB>
# utilisation (%)", averaged over the time bin.
# Usage: gnuplot -e "datafile='replicas-1.tsv'; outfile='r.png'; runname='#1 x'; nreplicas=4" replicas.gp
if (!exists("runname")) runname = ''
if (!exists("nreplicas")) nreplicas = 1
height = 900
dirof(s) = strlen(s) == 0 ? './' : s[strlen(s):] eq '/' ? s : dirof(s[1:strlen(s)-1])
load dirof(ARG0) . 'common.gp'
set multiplot layout 3,1 title 'Replicas over time, ' . runname font ',14'
set key outside right top vertical
if (nreplicas > 16) unset key   # colours repeat: a legend of dozens helps nobody
set xrange [0:*]
set autoscale xfixmax
set lmargin 12
set rmargin 18
set ylabel 'requests (running + waiting)'
set yrange [0:*]
plot for [i=0:nreplicas-1] datafile index i using 1:2 with lines lt (i+1) title columnheader(1)
set ylabel 'KV-cache usage (%)'
set yrange [0:100]
plot for [i=0:nreplicas-1] datafile index i using 1:5 with lines lt (i+1) title columnheader(1)
set ylabel 'output tokens/s'
set yrange [0:*]
set xlabel 'simulated time (s)'
plot for [i=0:nreplicas-1] datafile index i using 1:6 with lines lt (i+1) title columnheader(1)
unset multiplot
