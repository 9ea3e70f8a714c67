# cdf.gp: cumulative distributions of TTFT, TPOT and E2E latency, one line per run.
#
# Data (written by `fleetsim plot`): 3 x nruns blocks separated by two blank lines,
# TTFT blocks first, then TPOT, then E2E; each block opens with a header line naming
# the run, then rows "latency<TAB>fraction of requests" (TTFT and TPOT in ms, E2E in s).
# Usage: gnuplot -e "datafile='cdf.tsv'; outfile='cdf.png'; fmt='png'; nruns=2" cdf.gp
if (!exists("nruns")) nruns = 1
height = 450
width = 1500
dirof(s) = strlen(s) == 0 ? './' : s[strlen(s):] eq '/' ? s : dirof(s[1:strlen(s)-1])
load dirof(ARG0) . 'common.gp'
set multiplot layout 1,3 title 'Latency distributions (CDF)' font ',14'
set logscale x
set yrange [0:1]
set ytics 0.1
set key bottom right
set ylabel 'fraction of requests'
set xlabel 'time to first token, TTFT (ms)'
plot for [i=0:nruns-1] datafile index i using 1:2 with lines lt (i+1) title columnheader(1)
unset ylabel
set xlabel 'time per output token, TPOT (ms)'
plot for [i=0:nruns-1] datafile index (nruns+i) using 1:2 with lines lt (i+1) title columnheader(1)
set xlabel 'end-to-end latency, E2E (s)'
plot for [i=0:nruns-1] datafile index (2*nruns+i) using 1:2 with lines lt (i+1) title columnheader(1)
unset multiplot
