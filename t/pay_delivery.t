# SPDX-License-Identifier: Apache-2.0
# WeChat Pay's delivery rules with a WxReplayCache, on shmcb, memcached and
# Redis (a fleet of two Apaches on one store for the last two), all
# started here: each notification id reaches the app once; a copy of one
# the app answered 2xx gets 204 without the app; a copy while the first is
# still being handled gets 503 with WeChat Pay's failure JSON (WeChat Pay
# retries for hours); one whose handling failed is released for the retry.
# WeChat Pay's retries are signed afresh: each copy here is too.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Spec::Functions qw(catfile);
use File::Temp ();
use HTTP::Request;
use LWP::UserAgent;
use POSIX ();
use Time::HiRes qw(sleep time);
use WxBackend;
use WxPay;
use WxServer;
use WxTest;

own_servers_only();
need_backends(qw(node memcached redis-server));

my $app = WxBackend->start_http(WxServer::free_port(),
                                catfile(t_logs(), 'backend-pay-delivery.jsonl'));
my $backend = $app->{port};
my $ua = LWP::UserAgent->new(timeout => 20);

sub conf {
    my ($cache) = @_;
    return <<"CONF";
WxReplayCache $cache
<Location /pay>
    WxPayPublicKey $WxPay::SERIAL "$WxPay::KEYS/platform.pem"
    WxPayAPIv3Key $WxPay::APIV3
    Require wxpay-signature
    ProxyPass "http://127.0.0.1:$backend/pay"
</Location>
<Location /pay-verify>
    WxPayPublicKey $WxPay::SERIAL "$WxPay::KEYS/platform.pem"
    Require wxpay-signature
    ProxyPass "http://127.0.0.1:$backend/pay-verify"
</Location>
CONF
}

# How many times the app saw notification $id (the X-WxPay-Id it got).
sub seen {
    my ($id) = @_;
    return scalar grep { ($_->{headers}{'x-wxpay-id'} // '') eq $id } @{ $app->hits };
}

# Notification $id (signed afresh each time, as WeChat Pay's retries are)
# to $srv; the query's reply= picks the app's answer (WxBackend).
sub post {
    my ($srv, $id, $reply, %o) = @_;
    my $n = notice(id => $id, %{ $o{notice} // {} });
    my $req = HTTP::Request->new(POST => $srv->base . ($o{path} // '/pay')
                                 . ($reply ? "?reply=$reply" : ''));
    my @h = @{ $n->{headers} };
    $req->header(splice @h, 0, 2) while @h;
    $req->header('Content-Type' => 'application/json');
    $req->content($n->{body});
    return $ua->request($req);
}

# A key file is read again on a graceful restart: the same PUB_KEY_ID_
# with another key in its file verifies under the new key only.  (Not
# under make memcheck: its Apaches are one process, httpd -X, which has
# no graceful restart.)
SKIP: {
    skip('graceful restart: not with httpd -X under valgrind', 4) if $ENV{WX_VALGRIND};
    my $kdir = File::Temp::tempdir(CLEANUP => 1);
    chmod 0755, $kdir;
    system('cp', "$WxPay::KEYS/pubkey.pem", "$kdir/pub.pem") == 0 or die;
    my $s = WxServer->apache(name => 'pay-graceful', conf => <<"CONF");
<Location /pay>
    WxPayPublicKey $WxPay::PUBID "$kdir/pub.pem"
    WxPayAPIv3Key $WxPay::APIV3
    Require wxpay-signature
    ProxyPass "http://127.0.0.1:$backend/pay"
</Location>
CONF
    my $send = sub {
        my ($key) = @_;
        my $n = notice(key => $key, serial => $WxPay::PUBID);
        my $req = HTTP::Request->new(POST => $s->base . '/pay');
        my @h = @{ $n->{headers} };
        $req->header(splice @h, 0, 2) while @h;
        $req->content($n->{body});
        return $ua->request($req)->code;
    };
    is($send->('pubkey'), 200, 'graceful: the key in the file verifies');
    is($send->('platform'), 401, 'graceful: another key does not');
    # The platform certificate's public key, now under the same id.
    system("openssl x509 -in '$WxPay::KEYS/platform.pem' -pubkey -noout > '$kdir/pub.pem'") == 0
        or die;
    $s->graceful;
    is($send->('platform'), 200, 'after a graceful restart: the new key in the file verifies');
    is($send->('pubkey'), 401, 'after a graceful restart: the old one no longer does');
    $s->stop;
}

my %stores = (
    shmcb    => [undef, 'shmcb'],
    memcache => [WxServer->memcached],
    redis    => [WxServer->redis],
);
for my $kind (sort keys %stores) {
    my ($cache, $spec) = @{ $stores{$kind} };
    $spec //= "$kind:127.0.0.1:" . $cache->port;
    my @srv = (WxServer->apache(name => "pay-$kind-a", conf => conf($spec)));
    push @srv, WxServer->apache(name => "pay-$kind-b", conf => conf($spec))
        unless $kind eq 'shmcb';

    # Answered: the retry is acknowledged, by either Apache of the fleet.
    {
        my $id = "EV-$kind-answered";
        my $res = post($srv[0], $id);
        is($res->code, 200, "$kind: a notification: the app's 200");
        my $copy = post($srv[-1], $id);
        is($copy->code . ':' . $copy->content, '204:',
           "$kind: its retry" . (@srv > 1 ? ', at the other Apache' : '')
           . ': 204, empty');
        is(seen($id), 1, "$kind: the app saw it once");
        like($srv[-1]->error_log, qr/WXV00024: duplicate: its id was answered before; acknowledged, for \/pay/,
             "$kind: the retry logged as a duplicate");
    }

    # A forgery carrying a genuine id, first: refused before any claim,
    # so the genuine notification still reaches the app.
    {
        my $id = "EV-$kind-forged-first";
        is(post($srv[0], $id, undef, notice => { key => 'other' })->code, 401,
           "$kind: a forgery with a genuine id: 401");
        is(post($srv[-1], $id)->code, 200, "$kind: the genuine one after it: the app's 200");
        is(seen($id), 1, "$kind: the app saw the genuine one");
    }

    # Verified only (no APIv3 key): claimed by its id all the same.
    {
        my $id = "EV-$kind-verify-only";
        is(post($srv[0], $id, undef, path => '/pay-verify')->code, 200,
           "$kind: verify-only: the app's 200");
        is(post($srv[-1], $id, undef, path => '/pay-verify')->code, 204,
           "$kind: verify-only: its retry: 204");
        is(scalar(grep { $_->{target} =~ m{^/pay-verify} && index($_->{body}, $id) >= 0 }
                  @{ $app->hits }), 1, "$kind: verify-only: the app saw it once");
    }

    # Failed: the claim is given back; WeChat Pay's retry reaches the app.
    {
        my $id = "EV-$kind-failed";
        is(post($srv[0], $id, 'fail')->code, 500, "$kind: the app's 500 goes back");
        is(post($srv[-1], $id)->code, 200, "$kind: the retry after a failure: the app's 200");
        is(seen($id), 2, "$kind: the app saw both (nothing lost)");
    }

    # Still being handled (the app takes 2 s): the copy gets WeChat Pay's
    # failure, at once; once answered, a copy gets 204.
    {
        my $id = "EV-$kind-inflight";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            post($srv[0], $id, 'slow');
            POSIX::_exit(0);
        }
        sleep 0.7;
        my $t0 = time;
        my $copy = post($srv[-1], $id);
        my $took = time - $t0;
        waitpid $pid, 0;
        is($copy->code, 503, "$kind: a copy while the first is handled: 503");
        is($copy->content, '{"code":"FAIL","message":"wxpay-in-flight"}',
           "$kind: ... with WeChat Pay's failure JSON");
        ok($took < 1.5, "$kind: ... at once (took ${\ sprintf '%.2f', $took} s)");
        is(seen($id), 1, "$kind: the app saw the first only");
        is(post($srv[-1], $id)->code, 204, "$kind: a copy after it was answered: 204");
        is(seen($id), 1, "$kind: still once");
    }

    # Many copies at once: one reaches the app.
    {
        my $id = "EV-$kind-burst";
        my @kids;
        for my $i (0 .. 9) {
            my $pid = fork // die "fork: $!";
            if (!$pid) {
                my $code = post($srv[$i % @srv], $id)->code;
                POSIX::_exit($code == 200 ? 0 : $code == 204 ? 1 : $code == 503 ? 2 : 3);
            }
            push @kids, $pid;
        }
        my %by;
        for (@kids) { waitpid $_, 0; $by{$? >> 8}++ }
        is(seen($id), 1, "$kind: 10 copies at once on " . scalar(@srv) . " Apache(s): the app saw one");
        is($by{3} // 0, 0, "$kind: every copy got 200, 204 or 503");
    }
    $_->stop for @srv;
}
$_->[0] && $_->[0]->kill_daemon for values %stores;
$app->stop;
done_testing();
