# SPDX-License-Identifier: Apache-2.0
# `make run` (tools/run): the demo Apache starts, and the signed curl it
# prints really gets its echostr back; a forged one gets 403.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Spec::Functions qw(catfile);
use File::Temp qw(tempdir);
use LWP::UserAgent;
use POSIX qw(setsid _exit);
use WxServer ();

my $top = Apache::Test::vars('top_dir');
my $run = catfile($top, 'tools', 'run');
plan skip_all => "no $run" unless -x $run;

my $port = WxServer::free_port();
# This run's folder, and so its own pid file: the httpd that tools/run
# execs in the end is the very process forked here.
my $dir = tempdir('wx_valid-make-run.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $err = catfile(Apache::Test::vars('t_logs'), 'make_run.err');

my $pid = open(my $out, '-|') // die "fork: $!";
if (!$pid) {
    setsid();
    open STDERR, '>', $err;
    $ENV{WX_RUN_PORT} = $port;
    $ENV{WX_RUN_DIR} = $dir;
    $ENV{APXS} = Apache::Test::config()->{vars}->{apxs} || 'apxs';
    exec($run) or print STDERR "exec $run: $!\n";
    _exit(127);
}

my ($url, @lines);
eval {
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 30;
    while (my $l = <$out>) {
        push @lines, $l;
        if ($l =~ m{^\s*curl -i '(http://127\.0\.0\.1:$port/wx\?signature=[0-9a-f]{40}&[^']+)'}) {
            $url = $1;
            last;
        }
    }
    alarm 0;
};
ok($url, 'make run prints a signed curl') or diag @lines;

# The curl is printed just before httpd starts: up when its pid file names
# this pid and it listens on the port.
my $up = $url && eval {
    WxServer::wait_ready(what => 'make run', pid => $pid, port => $port,
                         pidfile => "$dir/httpd.pid", secs => 30, log => $err);
};
ok($up, 'make run: its httpd is up') or diag $@;
if ($up) {
    my $ua = LWP::UserAgent->new(timeout => 10);
    my $res = $ua->get($url);
    is($res->code, 200, 'the printed curl: 200');
    is($res->content, 'hello-from-mod_wx_valid', 'the printed curl: echostr back');

    $res = $ua->get("http://127.0.0.1:$port/wx?signature=0000&timestamp=1&nonce=1&echostr=x");
    is($res->code, 403, 'the printed forged curl: 403');
}

# Ctrl-C's stand-in: SIGTERM; SIGKILL, with a warning, after 20 s.
ok(WxServer::stop_pid(what => 'make run', pid => $pid),
   'make run: it stops on SIGTERM');
close $out;

done_testing();
