# `make run` (tools/run): the demo Apache starts, and the signed curl it
# prints really gets its echostr back; a forged one gets 403.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Spec::Functions qw(catfile);
use IO::Socket::INET;
use LWP::UserAgent;
use POSIX qw(setsid);

my $top = Apache::Test::vars('top_dir');
my $run = catfile($top, 'tools', 'run');
plan skip_all => "no $run" unless -x $run;

# A free loopback port for the demo server.
my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "probe: $!";
my $port = $probe->sockport;
close $probe;

my $pid = open(my $out, '-|') // die "fork: $!";
if (!$pid) {
    setsid();
    open STDERR, '>', catfile(Apache::Test::vars('t_logs'), 'make_run.err');
    $ENV{WX_RUN_PORT} = $port;
    $ENV{APXS} = Apache::Test::config()->{vars}->{apxs} || 'apxs';
    exec $run or die "exec $run: $!";
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

my $ua = LWP::UserAgent->new(timeout => 10);
my $res;
for (1 .. 100) {    # the curl is printed just before httpd starts
    $res = $ua->get($url);
    last unless $res->header('Client-Warning');    # LWP: no connection
    select undef, undef, undef, 0.1;
}
is($res->code, 200, 'the printed curl: 200');
is($res->content, 'hello-from-mod_wx_valid', 'the printed curl: echostr back');

$res = $ua->get("http://127.0.0.1:$port/wx?signature=0000&timestamp=1&nonce=1&echostr=x");
is($res->code, 403, 'the printed forged curl: 403');

kill 'TERM', -$pid;
waitpid $pid, 0;

done_testing();
