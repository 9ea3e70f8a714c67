# cost.gp: cost per million tokens (input, output, blended) by configuration.
#
# Data (written by `fleetsim plot`): one row per run: "run and fleet<TAB>USD per M input
# tokens<TAB>USD per M output tokens<TAB>USD per M tokens (blended)". Lines starting
# with # are comments.
# Usage: gnuplot -e "datafile='cost.tsv'; outfile='cost.png'" cost.gp
dirof(s) = strlen(s) == 0 ? './' : s[strlen(s):] eq '/' ? s : dirof(s[1:strlen(s)-1])
load dirof(ARG0) . 'common.gp'
set title 'Cost per million tokens by configuration' font ',14'
set ylabel 'USD per million tokens'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 noborder
set boxwidth 0.9
set xtics rotate by -20 left
set key top left
set bmargin 8
plot datafile using 2:xtic(1) lt 1 title 'input', '' using 3 lt 2 title 'output', \
     '' using 4 lt 3 title 'blended'
