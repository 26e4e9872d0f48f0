# SPDX-License-Identifier: Apache-2.0
package WxTest;
# Helpers shared by the Apache::Test files: an independent signer (Perl's
# Digest::SHA, not the module's code), raw HTTP, and readers of the logs
# the test server writes.
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use FindBin;
use Test::More ();
use Digest::SHA qw(sha1_hex);
use File::Spec::Functions qw(catfile);
use IO::Socket::INET;
use Time::HiRes qw(sleep);

use Apache::Test ();
use Apache::TestRequest ();

our @EXPORT = qw(need_backends own_servers_only sign signed_query log_mark wx_lines_since lines_since
                 note_mark note_since raw_get t_logs);

# The daemons a test starts itself, each a program Debian installs:
# php-fpm (package php-fpm), node (nodejs: the crypto oracles, with
# t/oracle's npm packages), memcached, redis-server.  On a developer's
# machine a test without one skips with the reason; under CI
# (WX_REQUIRE_ALL, set by .ci/run) it fails instead, so CI proves all.
my %program = (
    'php-fpm'      => sub { (glob '/usr/sbin/php-fpm*')[0] },
    node           => sub { _in_path('node') && -d "$FindBin::Bin/oracle/node_modules" },
    memcached      => sub { _in_path('memcached') },
    'redis-server' => sub { _in_path('redis-server') },
);

sub _in_path {
    my ($name) = @_;
    return grep { -x "$_/$name" } split /:/, $ENV{PATH} // '';
}

sub need_backends {
    my @missing = grep { !($program{$_} or die "need_backends: $_?\n")->() } @_;
    return 1 unless @missing;
    my $why = "needs @missing, not installed here (tools/deps installs it)";
    if ($ENV{WX_REQUIRE_ALL}) {
        Test::More::plan(tests => 1);
        Test::More::fail("$why; WX_REQUIRE_ALL: no skipping");
        exit 1;
    }
    Test::More::plan(skip_all => $why);
}

# A test that talks only to Apaches it starts itself (t/lib/WxServer.pm,
# always the event MPM) is the same whatever the suite's MPM: it runs in
# the event run (tools/apache-test sets WX_SUITE_MPM), and says so in the
# others.
sub own_servers_only {
    my $mpm = $ENV{WX_SUITE_MPM} // 'event';
    return 1 if $mpm eq 'event';
    Test::More::plan(skip_all => "starts its own Apaches (event MPM), "
                     . "whatever the suite's: run under event, not again under $mpm");
}

# WeChat's signature: sha1 of the byte-wise sorted parts, lower-case hex.
sub sign {
    return sha1_hex(join '', sort @_);
}

# A verification query signed with $token; echostr as it goes on the wire.
sub signed_query {
    my (%a) = @_;
    my $ts    = $a{timestamp} // time;
    my $nonce = $a{nonce}     // int(rand(1e9));
    my $sig   = $a{signature} // sign($a{token}, $ts, $nonce);
    my $q = "signature=$sig&timestamp=$ts&nonce=$nonce";
    $q .= "&echostr=$a{echostr}" if defined $a{echostr};
    return $q;
}

sub t_logs { Apache::Test::vars('t_logs') }

sub _mark { my $f = shift; return -s $f // 0 }

sub _since {
    my ($f, $mark) = @_;
    open my $fh, '<', $f or return ();
    seek $fh, $mark, 0;
    local $/ = "\n";
    my @l = <$fh>;
    close $fh;
    chomp @l;
    return @l;
}

# The error log: a mark before a request, the lines written after it.
sub log_mark { _mark(catfile(t_logs(), 'error_log')) }
sub lines_since { _since(catfile(t_logs(), 'error_log'), shift) }

# Only mod_wx_valid's own lines.
sub wx_lines_since { grep { /\[wx_valid:/ } lines_since(shift) }

# The note log ("%m %U %>s %{wx-valid}n %{X-Wx-Seq}i") is written after
# the response went out, so a request's line may come late, and the line
# of the request before a byte-offset mark may land after it (it did under
# valgrind, for two POSTs to one path).  So every request the tests send
# carries X-Wx-Seq: the test process's pid and a number that grows by one
# per request.  A mark is the next number; note_since waits (bounded: 10 s,
# for valgrind runs) for the first line of "$method $path " sent by this
# process at or after the mark, and returns it without the number.
my $seq = 0;
my $hooked;
sub _next_seq { return "$$-" . ++$seq }
sub _hook_ua {
    return if $hooked;
    Apache::TestRequest::user_agent()->add_handler(
        request_prepare => sub { $_[0]->header('X-Wx-Seq' => _next_seq()); return });
    $hooked = 1;
}
_hook_ua();

sub note_mark { return $seq + 1 }

sub note_since {
    my ($mark, $method, $path) = @_;
    for (1 .. 200) {
        for (_since(catfile(t_logs(), 'wx_note_log'), 0)) {
            my ($line, $pid, $n) = /^(.*) (\d+)-(\d+)$/ or next;
            return $line
                if $pid == $$ && $n >= $mark && index($line, "$method $path ") == 0;
        }
        sleep 0.05;
    }
    return undef;
}

# A request sent byte for byte as given (no client-side URI rewriting);
# returns (status, {lower-case header => value}, body).
# $o{headers}: more header lines (name => value pairs); $o{chunks}: a
# body, sent with Transfer-Encoding: chunked in those pieces.
sub raw_get {
    my ($target, %o) = @_;
    my $method = $o{method} // 'GET';
    my $hostport = Apache::TestRequest::hostport(Apache::Test::config());
    my $sock = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => 10)
        or die "connect $hostport: $!";
    my @more = @{ $o{headers} // [] };
    my $extra = '';
    for (my $i = 0; $i < @more; $i += 2) {
        $extra .= "$more[$i]: $more[$i + 1]\r\n";
    }
    my $sent = '';
    if ($o{chunks}) {
        $extra .= "Transfer-Encoding: chunked\r\n";
        $sent = join('', map { sprintf("%x\r\n%s\r\n", length, $_) } @{ $o{chunks} })
              . "0\r\n\r\n";
    }
    binmode $sock;
    print $sock "$method $target HTTP/1.1\r\nHost: $hostport\r\n"
              . "X-Wx-Seq: " . _next_seq() . "\r\n$extra"
              . "Connection: close\r\n\r\n$sent";
    local $/;
    my $resp = <$sock>;
    close $sock;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status_line, @h) = split /\r\n/, $head;
    my ($status) = $status_line =~ m{^HTTP/1\.\d (\d{3})};
    my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k, $v) } @h;
    return ($status, \%h, $body // '');
}

1;
