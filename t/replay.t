# SPDX-License-Identifier: Apache-2.0
# WxReplayCache with real servers, all started here: one Apache with
# shmcb; two Apaches sharing one memcached, and two sharing one Redis (a
# fleet behind a load balancer); the cache stopped under each
# WxReplayCacheFailure policy; the mod_status counters after a known
# sequence.  (Apache::Test's own server holds none of this: a replay cache
# needs a bounded WxMaxAge in every section of its server.)
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Spec::Functions qw(catfile);
use HTTP::Request;
use LWP::UserAgent;
use Time::HiRes qw(sleep);
use WxBackend;
use WxOracle;
use WxServer;
use WxTest;

own_servers_only();
need_backends(qw(node memcached redis-server));

my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
my $app = WxBackend->start_http(WxServer::free_port(),
                                catfile(t_logs(), 'backend-replay.jsonl'));
my $backend = $app->{port};
my $TOKEN = 'ReplayTok3n';
my $AESKEY = 'CurrentKey0123456789abcdefghijklmnopqrstuvw';

sub conf {
    my ($cache, $extra) = @_;
    $extra //= q{};
    return <<"EOF";
WxReplayCache $cache
$extra
<Location /wx>
    SetHandler wx-valid
    WxToken $TOKEN
    WxMaxAge 120
</Location>
<Location /guarded>
    WxToken $TOKEN
    WxMaxAge 120
    Require wx-signature
    ProxyPass "http://127.0.0.1:$backend/guarded"
</Location>
<Location /safe>
    WxToken $TOKEN
    WxMaxAge 120
    WxEncodingAESKey $AESKEY
    Require wx-signature
    ProxyPass "http://127.0.0.1:$backend/safe"
</Location>
EOF
}

sub get  { $ua->get($_[0]->base . $_[1]) }
sub post {
    my ($srv, $path) = @_;
    my $req = HTTP::Request->new(POST => $srv->base . $path);
    $req->header('Content-Type' => 'text/xml');
    $req->content('<xml><MsgId>1</MsgId></xml>');
    return $ua->request($req);
}
sub n_hits { scalar @{ $app->hits } }

# The counters of mod_status's ?auto page, as a hash.
sub counters {
    my ($srv) = @_;
    my $page = get($srv, '/server-status?auto')->content;
    return { $page =~ /^WxValid(\w+): (\d+)$/mg }, $page;
}

# -- one Apache, shmcb -------------------------------------------------------
{
    my $s = WxServer->apache(name => 'shmcb', conf => conf('shmcb'));
    my $q = signed_query(token => $TOKEN, echostr => 'once');
    my $res = get($s, "/wx?$q");
    is($res->code, 200, 'shmcb: a verification GET: 200');
    $res = get($s, "/wx?$q");
    is($res->code, 403, 'shmcb: the same again: 403');
    like($s->error_log, qr/WXV00015: replay: signature already used within WxMaxAge, for \/wx$/m,
         'shmcb: logged as a replay');

    # A signed POST the app fails on (500) gives its entry back: WeChat's
    # retry of it passes, and is refused only once it succeeded.
    my $p = signed_query(token => $TOKEN);
    my $before = n_hits();
    is(post($s, "/guarded?$p&reply=fail")->code, 500, 'shmcb: the app answers 500');
    is(post($s, "/guarded?$p&reply=fail")->code, 500,
       'shmcb: the retry is no replay (released after the 500)');
    is(post($s, "/guarded?$p")->code, 200, 'shmcb: the retry the app takes: 200');
    my $dup = post($s, "/guarded?$p");
    is($dup->code, 200, 'shmcb: after a 200, a copy: 200 (acknowledged)');
    is($dup->content, '', 'shmcb: ... with an empty body, WeChat\'s "received"');
    is(n_hits(), $before + 3, 'shmcb: the copy never reached the app');
    is(get($s, '/wx?' . signed_query(token => 'Forged123', echostr => 'x'))->code,
       403, 'shmcb: a forged GET: 403');

    # Exactly what happened above, counted across the children (each
    # request in log_transaction, after its response: the last one's count
    # may come a moment after the answer).
    my ($c, $page);
    WxServer::poll(20, sub { ($c, $page) = counters($s); ($c->{BadSignature} // 0) >= 1 });
    is($c->{Ok}, 4, 'status: WxValidOk 4');
    is($c->{Replay}, 1, 'status: WxValidReplay 1 (the verification GET)');
    is($c->{Duplicate}, 1, 'status: WxValidDuplicate 1 (the POST)');
    is($c->{BadSignature}, 1, 'status: WxValidBadSignature 1');
    is($c->{Malformed}, 0, 'status: WxValidMalformed 0');
    is($c->{CacheFailures}, 0, 'status: WxValidCacheFailures 0');
    like($page, qr/^CacheType: SHMCB$/m, 'status: the shmcb provider\'s own status');
    my $html = get($s, '/server-status')->content;
    like($html, qr{<h2>mod_wx_valid: WeChat callbacks since start-up</h2>},
         'status (HTML): our section');
    like($html, qr{<tr><td>replay</td><td>1</td></tr>}, 'status (HTML): replay 1');
    like($html, qr{<tr><td>duplicate</td><td>1</td></tr>}, 'status (HTML): duplicate 1');
    $s->stop;
    open my $fh, '<', $s->dir . '/note_log' or die $!;
    my @notes = grep { / (403 replay|200 duplicate)$/ } <$fh>;
    chomp @notes;
    is(join('|', @notes), 'GET /wx 403 replay|POST /guarded 200 duplicate',
       'notes: replay for the verification GET, duplicate for the message');
}

# -- one triple, two signatures ----------------------------------------------
# A safe-mode POST carries the plain signature beside msg_signature, over
# the same (token, timestamp, nonce): once used by the POST, the triple is
# used up under either signature (the plain one replayed by GET, without a
# body, would otherwise pass, as the attacker's did).
{
    my $s = WxServer->apache(name => 'shmcb-triple', conf => conf('shmcb'));
    my ($ts, $nonce) = (time, int rand 1e9);
    my $r = oracle_encrypt(lib => 'wechat', key => $AESKEY, id => 'wxany',
                           msg => '<xml><Content>hi</Content></xml>',
                           token => $TOKEN, timestamp => "$ts", nonce => "$nonce");
    my $plain = "signature=" . sign($TOKEN, $ts, $nonce) . "&timestamp=$ts&nonce=$nonce";
    my $req = HTTP::Request->new(POST => $s->base
        . "/safe?$plain&encrypt_type=aes&msg_signature=$r->{signature}");
    $req->content("<xml><Encrypt><![CDATA[$r->{encrypt}]]></Encrypt></xml>");
    $req->header('Content-Type' => 'text/xml');
    my $before = n_hits();
    is($ua->request($req)->code, 200, 'triple: the genuine safe-mode POST: 200');
    is(get($s, "/safe?$plain")->code, 403,
       'triple: its plain signature by GET, no body: 403');
    is(get($s, "/guarded?$plain")->code, 403,
       'triple: and at a plain-mode URL of the same token: 403');
    is(n_hits(), $before + 1, 'triple: the app got the POST only');
    like($s->error_log, qr/WXV00015: replay: signature already used within WxMaxAge, for \/guarded$/m,
         'triple: logged as a replay');
    # The other way round: a plain GET first, then its triple by msg_signature.
    ($ts, $nonce) = (time, int rand 1e9);
    $plain = "signature=" . sign($TOKEN, $ts, $nonce) . "&timestamp=$ts&nonce=$nonce";
    is(get($s, "/guarded?$plain")->code, 200, 'triple: a plain GET: 200');
    $r = oracle_encrypt(lib => 'wechat', key => $AESKEY, id => 'wxany',
                        msg => '<xml/>', token => $TOKEN, timestamp => "$ts",
                        nonce => "$nonce");
    $req = HTTP::Request->new(POST => $s->base
        . "/safe?timestamp=$ts&nonce=$nonce&msg_signature=$r->{signature}");
    $req->content("<xml><Encrypt><![CDATA[$r->{encrypt}]]></Encrypt></xml>");
    $req->header('Content-Type' => 'text/xml');
    $before = n_hits();
    is($ua->request($req)->code, 200, 'triple: then a safe-mode POST under it: acknowledged');
    is(n_hits(), $before, 'triple: ... without reaching the app');
    $s->stop;
}

# -- a small shmcb, filled many times over ---------------------------------
# shmcb evicts the oldest entries when full; it must never overrun itself
# (hints too small for its index once made it write past its subcaches and
# crash, which a few requests never showed).  One keep-alive connection.
{
    my $s = WxServer->apache(name => 'shmcb-small',
                             conf => conf('shmcb:@DIR@/replay(8192)'));
    my $ka = LWP::UserAgent->new(timeout => 10, keep_alive => 1);
    my %codes;
    for my $i (1 .. 600) {
        my $q = signed_query(token => $TOKEN, echostr => 'x', nonce => "k$i");
        $codes{ $ka->get($s->base . "/wx?$q")->code }++;
    }
    is(join(',', map { "$_:$codes{$_}" } sort keys %codes), '200:600',
       'small shmcb: 600 distinct signatures, all accepted');
    unlike($s->error_log, qr/Segmentation fault|exit signal/,
           'small shmcb: no child crashed');
    my $q = signed_query(token => $TOKEN, echostr => 'x', nonce => 'k600');
    is($ka->get($s->base . "/wx?$q")->code, 403,
       'small shmcb: the newest entry is still there: a replay');
    $s->stop;
}

# -- a fleet: two Apaches, one memcached; two Apaches, one Redis ------------
for my $kind ('memcache', 'redis') {
    my $cache = $kind eq 'memcache' ? WxServer->memcached : WxServer->redis;
    my $spec = "$kind:127.0.0.1:" . $cache->port;
    my $a = WxServer->apache(name => "$kind-a", conf => conf($spec));
    my $b = WxServer->apache(name => "$kind-b", conf => conf($spec));
    my $q = signed_query(token => $TOKEN, echostr => 'fleet');
    is(get($a, "/wx?$q")->code, 200, "$kind: accepted by the first Apache");
    my $res = get($b, "/wx?$q");
    is($res->code, 403, "$kind: refused as a replay by the second");
    like($b->error_log, qr/replay: signature already used within WxMaxAge/,
         "$kind: the second logs a replay");
    my $p = signed_query(token => $TOKEN);
    is(post($b, "/guarded?$p")->code, 200, "$kind: a POST through the second");
    my $before = n_hits();
    my $dup = post($a, "/guarded?$p");
    is($dup->code . ':' . $dup->content, '200:', "$kind: its copy through the first: an empty 200");
    is(n_hits(), $before, "$kind: the copy never reached the app");
    like($a->error_log, qr/WXV00024: duplicate: its timestamp and nonce were claimed before: answered, or still being handled; acknowledged, for \/guarded$/m,
         "$kind: the first logs a duplicate");

    # The cache goes away under load: "allow" (the default) lets signed
    # requests through, logged and counted; "deny" refuses them with 503.
    my $deny = WxServer->apache(name => "$kind-deny",
                                conf => conf($spec, 'WxReplayCacheFailure deny'));
    my (%codes, $i);
    for $i (1 .. 20) {
        $cache->kill_daemon if $i == 11;
        for my $srv ([allow => $a], [deny => $deny]) {
            my $code = get($srv->[1], '/wx?' . signed_query(token => $TOKEN,
                                                          echostr => "n$i"))->code;
            push @{ $codes{$srv->[0]}{$i <= 10 ? 'up' : 'down'} }, $code;
        }
    }
    is(join(',', @{ $codes{allow}{up} }), join(',', (200) x 10), "$kind up: allow: all 200");
    is(join(',', @{ $codes{deny}{up} }), join(',', (200) x 10), "$kind up: deny: all 200");
    is(join(',', @{ $codes{allow}{down} }), join(',', (200) x 10),
       "$kind down: allow: all 200, unchecked");
    is(join(',', @{ $codes{deny}{down} }), join(',', (503) x 10),
       "$kind down: deny: all 503");
    like($a->error_log, qr/WXV00016: cache-error: WxReplayCache \Q$spec\E failed .+ \(the signed timestamp and nonce\); let through unchecked \(WxReplayCacheFailure allow\)/,
         "$kind down: allow logs each failure");
    like($deny->error_log, qr/WXV00016: cache-error: .* refused \(WxReplayCacheFailure deny\)/,
         "$kind down: deny logs each failure");
    my $c;
    WxServer::poll(20, sub { ($c) = counters($a); ($c->{CacheFailures} // 0) >= 10 });
    is($c->{CacheFailures}, 10, "$kind down: allow counted 10 cache failures");
    WxServer::poll(20, sub { ($c) = counters($deny); ($c->{CacheError} // 0) >= 10 });
    is($c->{CacheError}, 10, "$kind down: deny counted 10 cache-error refusals");

    # The cache comes back: both recover by themselves.
    $cache->start;
    my $code = 0;
    for my $try (1 .. 60) {
        $code = get($deny, '/wx?' . signed_query(token => $TOKEN, echostr => "b$try"))->code;
        last if $code == 200;
        sleep 0.5;
    }
    is($code, 200, "$kind back: deny accepts again");
    $_->stop for $a, $b, $deny;
    $cache->kill_daemon;
}

$app->stop;
done_testing();
