# SPDX-License-Identifier: Apache-2.0
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
use WxOracle;
use WxServer;
use WxTest;

own_servers_only();
need_backends(qw(node memcached redis-server));

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

# A copy under a location whose later fixup chooses another handler
# (mod_rewrite's [P] in a per-directory context): still acknowledged, the
# app never reached.
{
    my $rewrite = WxServer::load_lines('rewrite');
    my $s = WxServer->apache(name => 'front', conf => <<"CONF");
$rewrite
WxReplayCache shmcb
<Location /front>
    WxToken $TOKEN
    Require wx-signature
    RewriteEngine on
    RewriteRule ^ "http://127.0.0.1:$backend/front" [P]
</Location>
CONF
    my $q = signed_query(token => $TOKEN);
    my @ans = map {
        my $res = LWP::UserAgent->new(timeout => 10)->post($s->base . "/front?$q",
            'Content-Type' => 'text/xml', Content => '<xml/>');
        $res->code . ':' . ($res->content eq '' ? 'empty' : $res->content);
    } 1 .. 2;
    is("@ans", '200:backend-ok 200:empty', 'RewriteRule [P]: the first to the app, the copy acknowledged');
    is(hits_for($q), 1, 'RewriteRule [P]: the app got one');
    $s->stop;
}

# -- WxDedup: the message itself, once ---------------------------------------
# WeChat's retries may carry a fresh timestamp, nonce and signature: only
# the message tells them apart.
{
    my $key = 'CurrentKey0123456789abcdefghijklmnopqrstuvw';
    my $dconf = sub {
        my ($spec) = @_;
        my $loc = sub {
            my ($path, $token, $extra) = @_;
            return qq{<Location $path>\n    WxToken $token\n    Require wx-signature\n}
                 . qq{    $extra\n    ProxyPass "http://127.0.0.1:$backend$path"\n</Location>\n};
        };
        return "WxReplayCache $spec\n"
            . $loc->('/dedup', 'DedupTok3nA', 'WxDedup on')
            . $loc->('/dedup-b', 'DedupTok3nB', 'WxDedup on')
            . $loc->('/nodedup', 'DedupTok3nA', '')
            . $loc->('/dedup-short', 'DedupTok3nA', "WxDedup on\n    WxDedupWindow 2")
            . $loc->('/dedup-safe', 'DedupTok3nA', "WxDedup on\n    WxEncodingAESKey $key");
    };
    my $msg = sub {
        my ($from, $id, %o) = @_;
        my $to = $o{to} // 'gh_dedup';
        return "<xml><ToUserName><![CDATA[$to]]></ToUserName>"
             . "<FromUserName><![CDATA[$from]]></FromUserName>"
             . "<CreateTime>" . ($o{create} // 1714037059) . "</CreateTime>"
             . (defined $id ? "<MsgType><![CDATA[text]]></MsgType><Content>hi</Content><MsgId>$id</MsgId>"
                            : "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"
                            . "<EventKey><![CDATA[" . ($o{key} // 'menu_a') . "]]></EventKey>")
             . "</xml>";
    };
    my $n = 0;
    # One delivery by WeChat: a fresh signature each time; "m" marks it in
    # the app's record.
    my $send = sub {
        my ($srv, $path, $token, $body, %o) = @_;
        my $mark = 'd' . ++$n;
        my $q = signed_query(token => $token) . "&m=$mark" . ($o{reply} ? "&reply=$o{reply}" : '');
        if ($o{safe}) {
            my ($ts, $nonce) = (time, int rand 1e9);
            my $r = oracle_encrypt(lib => 'wecom', key => $key, id => 'wxany', msg => $body,
                                   token => $token, timestamp => int($ts) . '', nonce => "$nonce");
            $q = "timestamp=" . int($ts) . "&nonce=$nonce&msg_signature=$r->{signature}&m=$mark";
            $body = "<xml><Encrypt><![CDATA[$r->{encrypt}]]></Encrypt></xml>";
        }
        my $res = LWP::UserAgent->new(timeout => 10)->post($srv->base . "$path?$q",
            'Content-Type' => 'text/xml', Content => $body);
        my @hit = grep { ($_->{target} // '') =~ /[?&]m=$mark(?:&|$)/ } @{ $app->hits };
        return ($res->code . ':' . ($res->content eq '' ? 'empty' : $res->content),
                scalar(@hit), $hit[0]);
    };

    my $s = WxServer->apache(name => 'dedup', conf => $dconf->('shmcb'));
    my $m1 = $msg->('oUserA', 9001);
    my ($ans, $hits, $hit) = $send->($s, '/dedup', 'DedupTok3nA', $m1);
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: a message reaches the app');
    is($hit->{body}, $m1, 'WxDedup: plain mode: the body as sent, byte for byte');
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $m1);
    is("$ans $hits", '200:empty 0', 'WxDedup: its retry, freshly signed: acknowledged, not delivered');
    like($s->error_log, qr/WXV00024: duplicate: the same message was claimed before \(WxDedup\): answered, or still being handled; acknowledged, for \/dedup$/m,
         'WxDedup: logged as a duplicate');
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $msg->('oUserB', 9001));
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: the same MsgId from another user: delivered');
    ($ans, $hits) = $send->($s, '/dedup-b', 'DedupTok3nB', $m1);
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: the same message to another account (token): delivered');
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $msg->('oUserA', 9001, to => 'gh_other'));
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: ... to another ToUserName: delivered');

    my $e1 = $msg->('oUserA', undef);
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $e1);
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: an event reaches the app');
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $e1);
    is("$ans $hits", '200:empty 0', 'WxDedup: the same event again: acknowledged');
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $msg->('oUserA', undef, key => 'menu_b'));
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: an event with another EventKey: delivered');

    my $m2 = $msg->('oUserA', 9002);
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $m2, reply => 'fail');
    is("$ans $hits", '500:backend-err 1', 'WxDedup: the app fails on a message');
    ($ans, $hits) = $send->($s, '/dedup', 'DedupTok3nA', $m2);
    is("$ans $hits", '200:backend-ok 1', 'WxDedup: its retry reaches the app (released)');

    my $m3 = $msg->('oUserA', 9003);
    ($ans, $hits) = $send->($s, '/nodedup', 'DedupTok3nA', $m3);
    ($ans, $hits) = $send->($s, '/nodedup', 'DedupTok3nA', $m3);
    is("$ans $hits", '200:backend-ok 1', 'without WxDedup: a retry, freshly signed, reaches the app again');

    ($ans, $hits) = $send->($s, '/dedup-short', 'DedupTok3nA', $msg->('oUserA', 9004));
    ($ans, $hits) = $send->($s, '/dedup-short', 'DedupTok3nA', $msg->('oUserA', 9004));
    is("$ans $hits", '200:empty 0', 'WxDedupWindow 2: a retry inside: acknowledged');
    sleep 3;
    ($ans, $hits) = $send->($s, '/dedup-short', 'DedupTok3nA', $msg->('oUserA', 9004));
    is("$ans $hits", '200:backend-ok 1', 'WxDedupWindow 2: 3 s later: delivered again');

    my $sm = $msg->('oUserS', 9101);
    ($ans, $hits, $hit) = $send->($s, '/dedup-safe', 'DedupTok3nA', $sm, safe => 1);
    like("$ans $hits", qr{^200:<xml><Encrypt>.* 1$}, 'WxDedup, safe mode: a message reaches the app (its reply encrypted)');
    is($hit->{body}, $sm, 'WxDedup, safe mode: decrypted');
    ($ans, $hits) = $send->($s, '/dedup-safe', 'DedupTok3nA', $sm, safe => 1);
    is("$ans $hits", '200:empty 0',
       'WxDedup, safe mode: encrypted anew and freshly signed: acknowledged');

    my $dups;
    WxServer::poll(20, sub {
        my $page = LWP::UserAgent->new->get($s->base . '/server-status?auto')->content;
        ($dups) = $page =~ /^WxValidDuplicate: (\d+)$/m;
        ($dups // 0) >= 4;
    });
    is($dups, 4, 'WxDedup: mod_status counts 4 duplicates');
    $s->stop;

    # A fleet: two Apaches on one Redis, the retry through the other.
    my $redis = WxServer->redis;
    my $spec = 'redis:127.0.0.1:' . $redis->port;
    my @fleet = map { WxServer->apache(name => "dedup-$_", conf => $dconf->($spec)) } qw(a b);
    my $m4 = $msg->('oUserF', 9201);
    ($ans, $hits) = $send->($fleet[0], '/dedup', 'DedupTok3nA', $m4);
    is("$ans $hits", '200:backend-ok 1', 'WxDedup on Redis: delivered through one Apache');
    ($ans, $hits) = $send->($fleet[1], '/dedup', 'DedupTok3nA', $m4);
    is("$ans $hits", '200:empty 0', 'WxDedup on Redis: its retry through the other: acknowledged');
    $_->stop for @fleet;
    $redis->kill_daemon;
}

$app->stop;
done_testing();
