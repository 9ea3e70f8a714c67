# common.gp: the look shared by fleetsim's plots (loaded by each script).
#
# Variables given with -e: datafile (the data, TSV written by `fleetsim plot`),
# outfile (the picture to write) and fmt ('png' or 'svg', default png). Optional:
# width and height in pixels.
if (!exists("fmt")) fmt = 'png'
if (!exists("width")) width = 1200
if (!exists("height")) height = 500
if (!exists("outfile")) outfile = datafile . '.' . fmt
if (fmt eq 'svg') {
    set terminal svg size width,height dynamic font 'Helvetica,13' background rgb 'white'
} else {
    set terminal pngcairo size width,height font 'Helvetica,11' background rgb 'white'
}
set output outfile
set termoption noenhanced
set datafile separator "\t"
set grid lc rgb '#dddddd' lt 1
set border 3 lc rgb '#555555'
set tics nomirror
set key noautotitle
set linetype 1 lc rgb '#1f77b4' lw 2
set linetype 2 lc rgb '#d62728' lw 2
set linetype 3 lc rgb '#2ca02c' lw 2
set linetype 4 lc rgb '#ff7f0e' lw 2
set linetype 5 lc rgb '#9467bd' lw 2
set linetype 6 lc rgb '#8c564b' lw 2
set linetype 7 lc rgb '#e377c2' lw 2
set linetype 8 lc rgb '#7f7f7f' lw 2
set linetype cycle 8
