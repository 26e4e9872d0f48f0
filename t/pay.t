# SPDX-License-Identifier: Apache-2.0
# Require wxpay-signature: WeChat Pay API v3 notifications, made here the
# way WeChat Pay makes them, by an independent implementation (the npm
# package wechatpay-axios-plugin, t/oracle/wxpay_oracle.js) with the test
# keys of t/pay/: what reaches the app (exact body, headers, count) and
# what WeChat Pay gets back (exact status and JSON), with the log reason.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use File::Spec::Functions qw(catfile);
use Encode ();
use File::Temp qw(tempfile);
use HTTP::Request;
use JSON::PP ();
use WxBackend;
use WxPay;
use WxTest;

need_backends(qw(node php-fpm));

my $keys   = $WxPay::KEYS;
my ($SERIAL, $OTHER, $PUBID, $APIV3, $NEWV3, $resource) =
    ($WxPay::SERIAL, $WxPay::OTHER, $WxPay::PUBID, $WxPay::APIV3,
     $WxPay::NEWV3, $WxPay::RESOURCE);
my $json   = JSON::PP->new->utf8->canonical;

my $app = WxBackend->start_http($ENV{WX_BACKEND_PORT},
                                catfile(t_logs(), 'pay-backend.jsonl'));
my $fpm = WxBackend->start_fpm($ENV{WX_FPM_PORT},
                               catfile(t_logs(), 'php-fpm-pay'));
my $ua = Apache::TestRequest::user_agent();

sub send_notice {
    my ($url, $n, %o) = @_;
    my $req = HTTP::Request->new(POST => Apache::TestRequest::resolve_url($url));
    my @h = @{ $n->{headers} };
    for (my $i = 0; $i < @h; $i += 2) {
        next if $o{drop} && $h[$i] eq $o{drop};
        $req->header($h[$i] => $h[$i + 1]);
    }
    $req->push_header(@{ $o{extra} }) if $o{extra};
    $req->header('Content-Type' => $o{ctype} // 'application/json');
    $req->content($n->{body});
    $req->header('Content-Length' => length $n->{body});
    return $ua->request($req);
}

sub hits { scalar @{ $app->hits } }

# A notification refused: 401 (or $c{status}), WeChat Pay's failure JSON,
# its note and log reason, and the app never reached.
sub refused {
    my (%c) = @_;
    my $before = hits();
    my $lm = log_mark();
    my $nm = note_mark();
    my $url = $c{url} // '/pay';
    my $res = send_notice($url, $c{notice}, %{ $c{send} // {} });
    my $status = $c{status} // 401;
    is($res->code, $status, "$c{name}: $status");
    is($res->content, "{\"code\":\"FAIL\",\"message\":\"$c{note}\"}",
       "$c{name}: WeChat Pay's failure JSON");
    like($res->header('Content-Type') // '', qr{^application/json},
         "$c{name}: Content-Type application/json");
    my $line = note_since($nm, 'POST', $url);
    like($line // '', qr/ $status \Q$c{note}\E$/, "$c{name}: noted $c{note}");
    ok((grep { /\Q$c{log}\E/ } wx_lines_since($lm)), "$c{name}: logs why")
        or diag(join '', wx_lines_since($lm));
    is(hits(), $before, "$c{name}: the app saw nothing");
}

# ---- accepted ----------------------------------------------------------
{
    my $n = notice(id => 'EV-2026120200001');
    my $before = hits();
    my $lm = log_mark();
    my $res = send_notice('/pay', $n, extra => ['X-WxPay-Id' => 'forged',
                                                'X-WxPay-Event-Type' => 'REFUND.SUCCESS']);
    is($res->code, 200, 'certificate serial: 200 (the app answered)');
    is($res->content, 'backend-ok', "certificate serial: the app's answer, unchanged");
    is(hits(), $before + 1, 'certificate serial: the app got it once');
    my $hit = $app->hits->[-1];
    my $want = $resource;   # (JSON::PP->utf8: bytes)
    is($hit->{body}, $want, 'the app got the decrypted resource, byte for byte');
    is($hit->{headers}{'content-type'}, 'application/json', '...as application/json');
    is($hit->{headers}{'content-length'}, length $want, '...with its length');
    is($hit->{headers}{'x-wxpay-id'}, 'EV-2026120200001',
       'X-WxPay-Id: the notification id (the client copy removed)');
    is($hit->{headers}{'x-wxpay-event-type'}, 'TRANSACTION.SUCCESS',
       'X-WxPay-Event-Type (the client copy removed)');
    is($hit->{headers}{'x-wxpay-resource-type'}, 'encrypt-resource', 'X-WxPay-Resource-Type');
    is($hit->{headers}{'x-wxpay-create-time'}, '2026-12-02T10:00:00+08:00', 'X-WxPay-Create-Time');
    is($hit->{headers}{'wechatpay-serial'}, $SERIAL, 'the Wechatpay-* headers go on as sent');
    ok((grep { /WXV00008: ok: signed by \Q$SERIAL\E, decrypted with WxPayAPIv3Key 1 of 1/ }
        wx_lines_since($lm)), 'logged at debug: which key signed, which decrypted');
}
{
    my $n = notice(key => 'pubkey', serial => $PUBID);
    my $before = hits();
    my $res = send_notice('/pay', $n);
    is($res->code, 200, 'WeChat Pay public key (PUB_KEY_ID_): 200');
    is(hits(), $before + 1, 'PUB_KEY_ID_: the app got it');
}
{
    # The body re-encoded on the wire: chunked.  The signature covers the
    # bytes, not how they travelled.
    my $n = notice();
    my $before = hits();
    my $b = $n->{body};
    my ($code) = raw_get('/pay', method => 'POST',
                         headers => [@{ $n->{headers} },
                                     'Content-Type' => 'application/json'],
                         chunks => [substr($b, 0, 7), substr($b, 7, 50),
                                    substr($b, 57)]);
    is($code, 200, 'Transfer-Encoding: chunked, in three pieces: 200');
    is(hits(), $before + 1, 'chunked: the app got it');
    is($app->hits->[-1]{body}, $resource, 'chunked: the decrypted resource');
}
{
    # Whatever the Content-Type says: the signature is over the bytes.
    my $n = notice();
    is(send_notice('/pay', $n, ctype => 'text/plain; charset=GBK')->code, 200,
       'Content-Type text/plain; charset=GBK: verified all the same, 200');
    is($app->hits->[-1]{headers}{'content-type'}, 'application/json',
       '...and the app gets application/json');
}
{
    # Verified only, without an APIv3 key: the body goes on as it came.
    my $n = notice();
    my $before = hits();
    my $res = send_notice('/pay-verify', $n, extra => ['X-WxPay-Id' => 'forged']);
    is($res->code, 200, 'no WxPayAPIv3Key: verified, 200');
    is($app->hits->[-1]{body}, $n->{body}, 'no WxPayAPIv3Key: the body as sent');
    is($app->hits->[-1]{headers}{'x-wxpay-id'}, undef,
       'no WxPayAPIv3Key: the client copy of X-WxPay-Id removed, none set');
}
{
    # Rotation: a new certificate, and a resource sealed with the previous
    # APIv3 key.
    my $n = notice(key => 'other', serial => $OTHER);
    my $res = send_notice('/pay-rotate', $n);
    is($res->code, 200, 'rotation: the new certificate, the previous APIv3 key: 200');
    $n = notice(key => 'platform', apiv3 => $NEWV3);
    is(send_notice('/pay-rotate', $n)->code, 200,
       'rotation: the old certificate, the new APIv3 key: 200');
}

{
    # The README's PHP recipe: the resource as php://input, the fields in
    # $_SERVER, and the app's 204 back to WeChat Pay.
    my $n = notice(key => 'pubkey', serial => $PUBID, id => 'EV-php-1');
    my $res = send_notice('/php/wxpay.php', $n);
    is($res->code, 204, "php-fpm: the app's 204, unchanged");
    my $seen = $json->decode($res->header('X-Seen') // '{}');
    is_deeply($seen, { id => 'EV-php-1', event => 'TRANSACTION.SUCCESS',
                       rtype => 'encrypt-resource',
                       ctime => '2026-12-02T10:00:00+08:00',
                       trade => "wxv\x{4e2d}-20260101", state => 'SUCCESS',
                       ctype => 'application/json' },
              'php-fpm: WXPAY_* in $_SERVER, the resource as php://input');
}

# ---- refused, in the order of the checks ---------------------------------
for my $h (qw(Wechatpay-Timestamp Wechatpay-Nonce Wechatpay-Signature Wechatpay-Serial)) {
    refused(name => "no $h", notice => notice(), send => { drop => $h },
            note => 'wxpay-malformed', log => "$h is missing or empty");
}
{
    my $n = notice();
    refused(name => 'Wechatpay-Serial twice', notice => $n,
            send => { extra => ['Wechatpay-Serial' => $SERIAL] },
            note => 'wxpay-malformed', log => 'Wechatpay-Serial is sent more than once');
}
{
    my $n = notice();
    $n->{headers}[9] = 'WECHATPAY2-SM2-WITH-SM3';
    refused(name => 'SM2 signature type', notice => $n, note => 'wxpay-sig-type',
            log => 'Wechatpay-Signature-Type is not WECHATPAY2-SHA256-RSA2048');
}
refused(name => 'unknown serial', notice => notice(serial => 'ABCDEF0123'),
        note => 'wxpay-unknown-serial',
        log => 'Wechatpay-Serial ABCDEF0123 names none of the keys (WxPayPublicKey)');
refused(name => 'stale (10 minutes old)', notice => notice(timestamp => time - 600),
        note => 'wxpay-stale', log => 'Wechatpay-Timestamp is older than the max age (WxPayMaxAge)');
refused(name => 'ahead of the clock by 10 minutes', notice => notice(timestamp => time + 600),
        note => 'wxpay-stale', log => 'Wechatpay-Timestamp is ahead of the server clock by more than the max age');
{
    my $n = notice();
    refused(name => 'Wechatpay-Nonce twice', notice => $n,
            send => { extra => ['Wechatpay-Nonce' => 'another'] },
            note => 'wxpay-malformed', log => 'Wechatpay-Nonce is sent more than once');
}
refused(name => 'rewritten into a section with other keys', url => '/pay-hop',
        notice => notice(), note => 'wxpay-malformed',
        log => 'an internal redirect or subrequest took the notification into a section with other WeChat Pay keys or settings');
refused(name => 'stale under WxPayMaxAge 60', url => '/pay-rotate',
        notice => notice(timestamp => time - 120), note => 'wxpay-stale',
        log => 'older than the max age');
refused(name => 'the probe', notice => notice(signature => 'WECHATPAY/SIGNTEST/' . 'A' x 100),
        note => 'wxpay-bad-signature', log => 'a WeChat Pay signature probe');
refused(name => 'signed with another key', notice => notice(key => 'other'),
        note => 'wxpay-bad-signature',
        log => 'Wechatpay-Signature does not verify with the key the serial names (WxPayPublicKey)');
{
    my $n = notice();
    (my $changed = $n->{body}) =~ s/TRANSACTION/TRANSACTIOM/;
    $n->{body} = $changed;
    refused(name => 'the body changed by one byte', notice => $n,
            note => 'wxpay-bad-signature', log => 'does not verify');
    $n = notice();
    my $re = $json->encode($json->decode($n->{body}));   # re-serialized
    $re =~ s/,/, /;
    $n->{body} = $re;
    refused(name => 'the body re-serialized', notice => $n,
            note => 'wxpay-bad-signature', log => 'does not verify');
}
refused(name => 'signed JSON that is not a notification', notice => notice(body => '[1,2]'),
        note => 'wxpay-bad-json', log => 'the body is not a JSON object');
refused(name => 'signed, not JSON', notice => notice(body => 'not json'),
        note => 'wxpay-bad-json', log => 'the body is not JSON');
refused(name => 'another algorithm', notice => notice(algorithm => 'AEAD_SM4_GCM'),
        note => 'wxpay-bad-algorithm', log => 'resource.algorithm is not AEAD_AES_256_GCM');
refused(name => 'sealed with another APIv3 key', notice => notice(apiv3 => $NEWV3),
        note => 'wxpay-bad-resource',
        log => 'resource does not decrypt with the APIv3 key (its GCM tag does not check) (WxPayAPIv3Key)');
refused(name => 'sealed with neither key', url => '/pay-rotate',
        notice => notice(apiv3 => '0123456789abcdef0123456789abcdef'),
        note => 'wxpay-bad-resource', log => 'resource decrypts with none of the APIv3 keys');
refused(name => 'no WxPayPublicKey in effect', url => '/pay-nokey', notice => notice(),
        status => 500, note => 'wxpay-no-key',
        log => 'Require wxpay-signature without a WxPayPublicKey in effect');
{
    # Chunked and over 256 KiB: 413, with WeChat Pay's failure JSON.
    my $n = notice();
    my $big = 'x' x 100_000;
    my $before = hits();
    my ($code, $h, $body) = raw_get('/pay', method => 'POST',
        headers => [@{ $n->{headers} }, 'Content-Type' => 'application/json'],
        chunks => [$big, $big, $big]);
    is($code, 413, 'chunked, 300,000 bytes: 413');
    is($body, '{"code":"FAIL","message":"too-large"}', '413: the failure JSON');
    is(hits(), $before, 'chunked, too large: the app saw nothing');
}
{
    # Over WX_MAX_BODY: 413, whatever it holds, the app not reached.
    my $n = notice();
    $n->{body} = 'x' x 300_000;
    my $before = hits();
    my $res = send_notice('/pay', $n);
    is($res->code, 413, 'a body over 256 KiB: 413');
    is(hits(), $before, 'over 256 KiB: the app saw nothing');
}

# The oracle agrees with the module's verdicts: the notification the
# module took verifies for it; the one changed by a byte, which the module
# refused, does not.
{
    my $t = notice();
    (my $changed = $t->{body}) =~ s/TRANSACTION/TRANSACTIM/;
    my ($v) = oracle({ op => 'verify', cert => "$keys/platform.pem",
                       timestamp => "$t->{timestamp}", nonce => $t->{nonce},
                       body => Encode::decode('UTF-8', $changed),
                       signature => $t->{signature} });
    ok(!$v->{ok}, 'oracle: a body changed by a byte does not verify (the module refused it)');
    $t->{body} = $changed;
    is(send_notice('/pay', $t)->code, 401, 'module: ...and refuses it');
}
{
    my $n = notice();
    my ($v) = oracle({ op => 'verify', cert => "$keys/platform.pem",
                       timestamp => "$n->{timestamp}", nonce => $n->{nonce},
                       body => Encode::decode('UTF-8', $n->{body}),
                       signature => $n->{signature} });
    ok($v->{ok}, 'oracle: the notifications sent verify with the certificate');
    ($v) = oracle({ op => 'verify', cert => "$keys/pubkey.pem",
                    timestamp => "$n->{timestamp}", nonce => $n->{nonce},
                    body => Encode::decode('UTF-8', $n->{body}),
                    signature => $n->{signature} });
    ok(!$v->{ok}, 'oracle: ... and not with another key');
}

$app->stop;
$fpm->stop;
done_testing();
