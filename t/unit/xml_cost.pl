#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0
# The envelope parser's work grows linearly with the body, for hostile
# shapes: callgrind counts the instructions of wx_envelope_parse() (and all
# it calls: expat, jansson) on bodies of 1, 16, 64 and 256 KiB, and each
# step may cost at most 1.5 times its growth in bytes.  Instructions, not
# time: this machine is shared and noisy.  (make unit; needs valgrind.)
use strict;
use warnings FATAL => 'all';
use File::Temp qw(tempdir);
use Test::More;

my $bin = shift // 'build/wx_xml_cost';
plan skip_all => 'valgrind is not installed'
    if system('sh', '-c', 'command -v valgrind >/dev/null') != 0
       && !$ENV{WX_REQUIRE_ALL};
my @shapes = qw(xmlns attributes pi-wrapped pi-xmlns pi comment doctype elements depth
                lt-flood cdata charrefs text-lines json-keys json-string
                json-depth);
my @sizes = map { $_ * 1024 } 1, 16, 64, 256;
my $dir = tempdir(CLEANUP => 1);

# Inclusive instructions of wx_envelope_parse, from callgrind's totals with
# collection on inside that function only.
sub cost {
    my ($shape, $size) = @_;
    my $out = "$dir/cg.$shape.$size";
    my $verdict = `valgrind --tool=callgrind --callgrind-out-file=$out --toggle-collect=wx_envelope_parse $bin $shape $size 2>/dev/null`;
    die "$bin $shape $size failed: $?" if $?;
    open my $fh, '<', $out or die "$out: $!";
    my ($ir) = map { /^(?:summary|totals): (\d+)/ ? $1 : () } <$fh>;
    chomp $verdict;
    return ($ir, $verdict);
}

for my $shape (@shapes) {
    my (@ir, @verdict);
    for my $size (@sizes) {
        my ($ir, $v) = cost($shape, $size);
        push @ir, $ir;
        push @verdict, $v;
    }
    diag(sprintf "%-11s %s  (%s)", $shape,
         join(' ', map { sprintf '%9d', $_ } @ir), $verdict[-1]);
    for my $i (1 .. $#sizes) {
        my $grow = $sizes[$i] / $sizes[$i - 1];
        ok($ir[$i] <= 1.5 * $grow * $ir[$i - 1],
           sprintf('%s: %d KiB costs %d instructions, at most 1.5 x %d x those of %d KiB (%d)',
                   $shape, $sizes[$i] / 1024, $ir[$i], $grow,
                   $sizes[$i - 1] / 1024, $ir[$i - 1]));
    }
}
done_testing();
