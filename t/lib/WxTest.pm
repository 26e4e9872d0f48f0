package WxTest;
# Helpers shared by the Apache::Test files: an independent signer (Perl's
# Digest::SHA, not the module's code), raw HTTP, and readers of the logs
# the test server writes.
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use Digest::SHA qw(sha1_hex);
use File::Spec::Functions qw(catfile);
use IO::Socket::INET;
use Time::HiRes qw(sleep);

use Apache::Test ();
use Apache::TestRequest ();

our @EXPORT = qw(sign signed_query log_mark wx_lines_since lines_since
                 note_mark note_since raw_get t_logs);

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

# The access log of "%m %U %>s %{wx-valid}n" is written after the response
# went out, so the line of the request just made may come late, and the
# previous request's line may land after the mark.  Wait (bounded: 10 s,
# for valgrind runs) for the first new line of "$method $path ", return it.
sub note_mark { _mark(catfile(t_logs(), 'wx_note_log')) }

sub note_since {
    my ($mark, $method, $path) = @_;
    for (1 .. 200) {
        my @l = grep { index($_, "$method $path ") == 0 }
                _since(catfile(t_logs(), 'wx_note_log'), $mark);
        return $l[0] if @l;
        sleep 0.05;
    }
    return undef;
}

# A request sent byte for byte as given (no client-side URI rewriting);
# returns (status, {lower-case header => value}, body).
sub raw_get {
    my ($target, %o) = @_;
    my $method = $o{method} // 'GET';
    my $hostport = Apache::TestRequest::hostport(Apache::Test::config());
    my $sock = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => 10)
        or die "connect $hostport: $!";
    binmode $sock;
    print $sock "$method $target HTTP/1.1\r\nHost: $hostport\r\n"
              . "Connection: close\r\n\r\n";
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
