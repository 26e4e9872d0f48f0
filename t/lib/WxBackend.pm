# SPDX-License-Identifier: Apache-2.0
package WxBackend;
# Real backends for the guard tests, started and stopped by the tests:
#  - an HTTP app (Perl, one process) that records every request reaching it,
#    method, target, headers and body byte for byte, and answers 200;
#  - php-fpm running t/htdocs/php/*.php, with its own access log.
use strict;
use warnings FATAL => 'all';

use File::Spec::Functions qw(catfile);
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(_exit);
use Time::HiRes ();

use WxServer ();    # its waits: bounded, by pid

# The recording HTTP app on $port; its record is $file (JSON lines).  It
# listens before it forks: up when this returns.
sub start_http {
    my ($class, $port, $file) = @_;
    unlink $file;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $port, Listen => 16,
                                       ReuseAddr => 1)
        or die "backend: listen on $port: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $listen;
        return bless { pid => $pid, file => $file, port => $port,
                       what => "the backend app on $port", parent => $$ },
                     $class;
    }
    # A copy of the test: it must not run the test's END or DESTROYs.
    $SIG{TERM} = sub { _exit(0) };
    # Apache may stop reading a reply (reply=big): not a reason to die.
    $SIG{PIPE} = 'IGNORE';
    while (my $c = $listen->accept) {
        binmode $c;
        my $head = '';
        while (defined(my $l = <$c>)) {
            $head .= $l;
            last if $l eq "\r\n";
        }
        my ($method, $target) = $head =~ /^(\S+) (\S+)/;
        my %h;
        for (split /\r\n/, $head) {
            $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
        }
        my $body = '';
        if (my $len = $h{'content-length'}) {
            read $c, $body, $len;
        }
        open my $fh, '>>', $file or die "$file: $!";
        print $fh JSON::PP->new->canonical->encode({
            method => $method, target => $target, headers => \%h,
            body => encode_base64($body, ''),
        }), "\n";
        close $fh;
        # The reply, chosen by the query's reply=: the body back (echo),
        # "success", nothing, a 500, 300,000 bytes (big), gzip-labelled,
        # cut short (broken); else "backend-ok".
        my ($mode) = ($target // '') =~ /[?&]reply=(\w+)/;
        my ($status, $reply) = (200, 'backend-ok');
        ($status, $reply) = (200, $body)         if ($mode // '') eq 'echo';
        ($status, $reply) = (200, 'success')     if ($mode // '') eq 'success';
        ($status, $reply) = (200, '')            if ($mode // '') eq 'empty';
        ($status, $reply) = (500, 'backend-err') if ($mode // '') eq 'fail';
        ($status, $reply) = (200, 'x' x 300_000) if ($mode // '') eq 'big';
        # An app that takes its time, as one WeChat retries (over 5 s there).
        Time::HiRes::sleep(2) if ($mode // '') eq 'slow';
        my $extra = ($mode // '') eq 'gzip' ? "Content-Encoding: gzip\r\n" : '';
        # broken: promises 100 bytes, sends 10, hangs up.
        my $length = ($mode // '') eq 'broken' ? 100 : length $reply;
        $reply = 'x' x 10 if ($mode // '') eq 'broken';
        print $c "HTTP/1.1 $status X\r\nContent-Type: text/plain\r\n$extra"
               . "Content-Length: $length\r\n"
               . "Connection: close\r\n\r\n$reply";
        close $c;
    }
    _exit(0);
}

# Every request the app has seen so far: [{method, target, headers, body}].
sub hits {
    my ($self) = @_;
    open my $fh, '<', $self->{file} or return [];
    my @r = map { my $h = JSON::PP->new->decode($_);
                  $h->{body} = decode_base64($h->{body}); $h } <$fh>;
    return \@r;
}

# php-fpm (Debian's php-fpm package) on $port, files under $dir.
sub start_fpm {
    my ($class, $port, $dir) = @_;
    my ($bin) = sort glob('/usr/sbin/php-fpm*');
    die "no php-fpm in /usr/sbin (Debian package php-fpm)" unless $bin;
    mkdir $dir;
    my $conf = catfile($dir, 'php-fpm.conf');
    my $access = catfile($dir, 'access.log');
    unlink $access;
    my $user = '';
    if ($> == 0) {
        my $group = getgrgid((getpwnam('nobody'))[3]);
        $user = "user = nobody\ngroup = $group\n";
    }
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"EOF";
[global]
pid = $dir/php-fpm.pid
error_log = $dir/error.log
daemonize = no

[wx]
${user}listen = 127.0.0.1:$port
pm = static
pm.max_children = 2
access.log = $access
access.format = "%m %{REQUEST_URI}e %s"
clear_env = no
EOF
    close $fh;
    my $log = catfile($dir, 'stderr.log');
    my $pid = WxServer::spawn(cmd => [$bin, '-F', '-y', $conf, '-c', '/dev/null'],
                              log => $log);
    my $self = bless { pid => $pid, file => $access, port => $port,
                       what => "php-fpm on $port", parent => $$ }, $class;
    # Up: it is the one listening on $port (a php-fpm left over from an
    # earlier test would answer there too).  (-F writes no pid file.)
    WxServer::wait_ready(what => $self->{what}, pid => $pid, port => $port,
                         log => $log);
    return $self;
}

# Lines of php-fpm's access log: one per script run.
# php-fpm writes a request's access-log line as the request ends, which
# may be a moment after Apache has answered: the lines once the log has
# been still for 50 ms (at most 2 s), so that neither this request's line
# nor the one before it comes late.
sub fpm_hits {
    my ($self) = @_;
    my $read = sub {
        open my $fh, '<', $self->{file} or return [];
        my @l = <$fh>;
        chomp @l;
        return \@l;
    };
    my $l = $read->();
    for (1 .. 40) {
        Time::HiRes::sleep(0.05);
        my $again = $read->();
        return $again if @$again == @$l;
        $l = $again;
    }
    return $l;
}

# TERM; KILL, with a warning, if it has not gone 20 s later.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    WxServer::stop_pid(what => $self->{what}, pid => $pid);
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    $self->stop if $self->{parent} == $$;
}

1;
