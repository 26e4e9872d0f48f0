# Each message reaches the app once, fleet-wide: the replay cache's claims
# are atomic on shmcb, memcached and Redis (with a password too), all
# started here.  50 copies of one signed request written at once, on one
# Apache and spread over two sharing one store; copies every 100 ms
# through the last second of the window; a copy while the first is still
# being handled; what the store's password never shows up in.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Spec::Functions qw(catfile);
use IO::Socket::INET;
use IO::Select;
use LWP::UserAgent;
use POSIX ();
use Time::HiRes qw(sleep time);
use WxBackend;
use WxServer;
use WxTest;

my $app = WxBackend->start_http(WxServer::free_port(),
                                catfile(t_logs(), 'backend-delivery.jsonl'));
my $backend = $app->{port};
my $TOKEN = 'DeliverTok3n';
my $PASSWORD = 'Redis-Secret-7f3a';
$ENV{WX_TEST_REDIS_PASSWORD} = $PASSWORD;

sub conf {
    my ($cache, $extra) = @_;
    return <<"CONF";
WxReplayCache $cache
${\ ($extra // '')}
<Location /guarded>
    WxToken $TOKEN
    WxMaxAge 5
    Require wx-signature
    ProxyPass "http://127.0.0.1:$backend/guarded"
</Location>
CONF
}

# The app's record of one query (each test signs its own).
sub hits_for {
    my ($q) = @_;
    return scalar grep { index($_->{target} // '', $q) >= 0 } @{ $app->hits };
}

# $n copies of one POST, spread over @srv in turn: every connection made
# first, then every request written, then every answer read.  Returns
# [status, body] for each.
sub burst {
    my ($n, $path, @srv) = @_;
    my $body = '<xml><MsgId>1</MsgId></xml>';
    my @socks = map {
        my $s = $srv[$_ % @srv];
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:" . $s->port, Timeout => 10)
            or die "connect: $!";
    } 0 .. $n - 1;
    for my $sock (@socks) {
        print $sock "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                  . "Content-Type: text/xml\r\nContent-Length: " . length($body)
                  . "\r\n\r\n$body";
    }
    my @out;
    for my $sock (@socks) {
        my $sel = IO::Select->new($sock);
        my $resp = '';
        while ($sel->can_read(30)) {
            my $got = sysread($sock, my $buf, 65536);
            last unless $got;
            $resp .= $buf;
        }
        my ($status) = $resp =~ m{^HTTP/1\.1 (\d{3})};
        my (undef, $rbody) = split /\r\n\r\n/, $resp, 2;
        push @out, [$status // 0, $rbody // ''];
    }
    return @out;
}

sub answers {
    my %c;
    $c{"$_->[0]:" . ($_->[1] eq '' ? 'empty' : $_->[1])}++ for @_;
    return join ',', map { "$_=$c{$_}" } sort keys %c;
}

my $redis_auth = WxServer->redis(password => $PASSWORD);
my %stores = (
    shmcb    => [undef, 'shmcb'],
    memcache => [WxServer->memcached],
    redis    => [WxServer->redis],
    'redis with a password' => [$redis_auth, undef,
                                'WxReplayCachePassword ${WX_TEST_REDIS_PASSWORD}'],
);
for my $kind (sort keys %stores) {
    my ($cache, $spec, $extra) = @{ $stores{$kind} };
    (my $proto = $kind) =~ s/ .*//;
    $spec //= "$proto:127.0.0.1:" . $cache->port;
    my $name = $kind =~ s/ /-/gr;
    my @srv = (WxServer->apache(name => "$name-a", conf => conf($spec, $extra)));
    push @srv, WxServer->apache(name => "$name-b", conf => conf($spec, $extra))
        unless $kind eq 'shmcb';

    # 50 copies at once, on one Apache, then spread over two.
    for my $fleet (1, 2) {
        next if $fleet > @srv;
        my $q = signed_query(token => $TOKEN);
        my @r = burst(50, "/guarded?$q", @srv[0 .. $fleet - 1]);
        is(hits_for($q), 1, "$kind, 50 copies at once on $fleet Apache(s): the app got one");
        is(answers(@r), '200:backend-ok=1,200:empty=49',
           "$kind, 50 copies on $fleet: one answered by the app, 49 acknowledged");
    }

    # Copies every 100 ms through the last second of a 5 s window: one
    # claim, alive until the window has closed, whatever the clock.
    {
        my $ts = int(time) - 4;
        my $q = signed_query(token => $TOKEN, timestamp => $ts);
        my (%codes, $n);
        while (time < $ts + 6.2) {
            my $res = LWP::UserAgent->new(timeout => 10)
                ->post($srv[$n++ % @srv]->base . "/guarded?$q",
                       'Content-Type' => 'text/xml', Content => '<xml/>');
            $codes{$res->code}++;
            sleep 0.1;
        }
        is(hits_for($q), 1, "$kind, a copy every 100 ms to the window's end: the app got one");
        is(join(',', grep { $_ != 200 && $_ != 403 } sort keys %codes), '',
           "$kind: every copy acknowledged (200) or, past the window, stale (403)");
        ok(($codes{200} // 0) >= 5, "$kind: copies inside the window: " . ($codes{200} // 0));
        is(scalar(grep { /WXV00016/ } map { $_->error_log } @srv), 0,
           "$kind: no store error near the window's end");
    }

    # A copy while the first is still being handled (the app takes 2 s,
    # as one WeChat retries does): acknowledged at once, never the app's.
    {
        my $q = signed_query(token => $TOKEN) . '&reply=slow';
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            LWP::UserAgent->new(timeout => 10)->post($srv[0]->base . "/guarded?$q",
                'Content-Type' => 'text/xml', Content => '<xml/>');
            POSIX::_exit(0);
        }
        sleep 0.5;
        my $t0 = time;
        my $res = LWP::UserAgent->new(timeout => 10)->post($srv[-1]->base . "/guarded?$q",
            'Content-Type' => 'text/xml', Content => '<xml/>');
        my $took = time - $t0;
        waitpid $pid, 0;
        is($res->code . ':' . $res->content, '200:', "$kind: a copy in flight: an empty 200");
        ok($took < 1.5, "$kind: ... at once, not after the first (took ${\ sprintf '%.2f', $took} s)");
        is(hits_for($q), 1, "$kind: the app got the first only");
    }

    if ($kind eq 'redis with a password') {
        # The wrong password: a store failure, said without the password.
        my $bad = WxServer->apache(name => 'redis-badpw', conf => conf($spec,
            "WxReplayCachePassword WrongPassword9\nWxReplayCacheFailure deny"));
        my $q = signed_query(token => $TOKEN);
        is(LWP::UserAgent->new->post($bad->base . "/guarded?$q",
               'Content-Type' => 'text/xml', Content => '<xml/>')->code, 503,
           'redis, a wrong password: deny gives 503');
        like($bad->error_log, qr/WXV00016: cache-error: WxReplayCache \Q$spec\E failed authenticating \(AUTH was refused\)/,
             'redis, a wrong password: logged as AUTH refused');
        my $status = LWP::UserAgent->new->get($srv[0]->base . '/server-status')->content
                   . LWP::UserAgent->new->get($srv[0]->base . '/server-status?auto')->content;
        unlike($status, qr/\Q$PASSWORD\E|WrongPassword9/, 'mod_status shows no password');
        like($status, qr/WxReplayCacheType: redis/, 'mod_status names the store');
        for my $s (@srv, $bad) {
            $s->stop;
            unlike($s->error_log, qr/\Q$PASSWORD\E|WrongPassword9/,
                   "no password in the error log of $s->{name}");
        }
        @srv = ();
    }
    $_->stop for @srv;
    $cache->kill_daemon if $cache;
}

$app->stop;
done_testing();
