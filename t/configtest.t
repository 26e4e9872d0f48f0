# SPDX-License-Identifier: Apache-2.0
# Configuration errors are caught by `apachectl configtest` (httpd -t),
# with a message that names the directive and the rule, never the token.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Spec::Functions qw(catfile);
use File::Temp qw(tempdir);
use WxServer;
use WxTest;

my $cfg     = Apache::Test::config();
my $httpd   = $cfg->{vars}->{httpd};
my $base    = WxServer::load_lines(qw(mpm_prefork authz_core));
my $module  = catfile($cfg->{vars}->{top_dir}, '.libs', 'mod_wx_valid.so');
my $dir     = tempdir(CLEANUP => 1);

# httpd -t on a minimal server config holding $body; (exit code, output).
sub configtest {
    my ($body, %env) = @_;
    my $conf = catfile($dir, 'httpd.conf');
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"EOF";
ServerRoot "$dir"
$base
LoadModule wx_valid_module "$module"
Listen 127.0.0.1:65000
ErrorLog "$dir/error_log"
PidFile "$dir/httpd.pid"
$body
EOF
    close $fh;
    local @ENV{keys %env} = values %env;
    my $out = `'$httpd' -t -f '$conf' 2>&1`;
    return ($? >> 8, $out);
}

my $rule = "WeChat's rule is 3 to 32 ASCII letters or digits";

for my $case (
    ['WxToken abc',                       'server config, 3 characters'],
    ['WxToken ' . ('Z' x 32),             '32 characters'],
    ['WxToken CurTok3n OldTok3n',         'two tokens'],
    ["WxToken One1\nWxToken Two2",        'two lines add up'],
    ["<VirtualHost *:65000>\nWxToken VhostTok3n\n</VirtualHost>",
                                          'virtual host'],
    ["<Directory /srv>\nWxToken DirTok3n\nWxMaxAge 30\n</Directory>",
                                          '<Directory>'],
    ["<Location /wx>\nSetHandler wx-valid\nWxToken LocTok3n\nWxMaxAge off\n</Location>",
                                          '<Location>'],
    ["<Location /wx>\nWxToken LocTok3n\nRequire wx-signature\n</Location>",
                                          'Require wx-signature'],
    ["<Location /wx>\nWxToken LocTok3n\n<RequireAll>\nRequire all granted\n"
     . "<RequireNone>\nRequire wx-signature\n</RequireNone>\n</RequireAll>\n</Location>",
                                          'Require wx-signature nested'],
    ['WxMaxAge 1',                        'WxMaxAge 1'],
    ['WxMaxAge 86400',                    'WxMaxAge 86400'],
    ['WxMaxAge OFF',                      'WxMaxAge OFF'],
    ['WxEncodingAESKey jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
                                          'a real key (surplus bits set)'],
    ["<Location /wx>\nWxEncodingAESKey abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
     . " jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\nWxAppID wx5823bf96d3bd56c7\n"
     . "</Location>",                     'current and previous key, WxAppID'],
    ["<VirtualHost *:65000>\nWxEncodingAESKey " . ('A' x 43) . "\nWxAppID ww1\n"
     . "</VirtualHost>",                  'key and WxAppID in a virtual host'],
) {
    my ($body, $name) = @$case;
    my ($rc, $out) = configtest($body);
    is($rc, 0, "accepted: $name") or diag $out;
    like($out, qr/Syntax OK/, "Syntax OK: $name");
}

{
    my ($rc, $out) = configtest('WxToken ${WX_CT_TOKEN}',
                                WX_CT_TOKEN => 'FromEnvTok3n');
    is($rc, 0, 'WxToken ${WX_CT_TOKEN} with the variable set');
}

for my $case (
    ['WxToken zQ',         "token 1 of 1 is shorter than 3 characters", 'zQ'],
    ['WxToken ' . ('LeakLong' x 5),
                           "token 1 of 1 is longer than 32 characters",
                           'LeakLong'],
    ['WxToken GoodTok3n Bad-Tok3n-Leak',
                           "token 2 of 2 holds a character other than an ASCII letter or digit",
                           'Bad-Tok3n-Leak'],
    ['WxToken LeakUnder_score',
                           "token 1 of 1 holds a character other than an ASCII letter or digit",
                           'LeakUnder_score'],
    ["WxToken caf\xc3\xa9Leak",
                           "token 1 of 1 holds a character other than an ASCII letter or digit",
                           "caf\xc3\xa9Leak"],
) {
    my ($body, $msg, $secret) = @$case;
    my ($rc, $out) = configtest($body);
    isnt($rc, 0, "refused: $msg");
    like($out, qr/WxToken: \Q$msg\E; \Q$rule\E/, "message: $msg");
    unlike($out, qr/\Q$secret\E/, "the message does not repeat the token");
}

{
    my ($rc, $out) = configtest('WxToken ${WX_CT_UNDEFINED}');
    isnt($rc, 0, 'undefined ${VARIABLE} refused');
    like($out, qr/WxToken: token 1 of 1 looks like an undefined \$\{VARIABLE\}/,
         'message points at the undefined variable');
}

# EncodingAESKeys are secrets too: the message names the position only.
my $keyrule = 'an EncodingAESKey is 43 ASCII letters or digits';
for my $case (
    ['WxEncodingAESKey ' . ('LeakKey' x 6),
     'key 1 of 1 is shorter than 43 characters', 'LeakKey' x 6],
    ['WxEncodingAESKey ' . ('LeakKeyX' x 6),
     'key 1 of 1 is longer than 43 characters', 'LeakKeyX' x 6],
    ['WxEncodingAESKey ' . ('A' x 43) . ' LeakKey+' . ('B' x 35),
     'key 2 of 2 holds a character other than an ASCII letter or digit',
     'LeakKey+'],
    ['WxEncodingAESKey ' . ('A' x 42) . '=',
     'key 1 of 1 holds a character other than an ASCII letter or digit',
     ('A' x 42) . '='],
) {
    my ($body, $msg, $secret) = @$case;
    my ($rc, $out) = configtest($body);
    isnt($rc, 0, "refused: $msg");
    like($out, qr/WxEncodingAESKey: \Q$msg\E; \Q$keyrule\E/, "message: $msg");
    unlike($out, qr/\Q$secret\E/, "the message does not repeat the key");
}
{
    my ($rc, $out) = configtest('WxEncodingAESKey ' . join(' ', ('A' x 43) x 3));
    isnt($rc, 0, 'three keys refused');
    like($out, qr/WxEncodingAESKey takes 1-2 arguments/, 'three keys: message');
}
for my $id ('"wx 123"', '"' . ('w' x 257) . '"') {
    my ($rc, $out) = configtest("WxAppID $id");
    isnt($rc, 0, "WxAppID $id refused");
    like($out, qr/WxAppID: .*an AppID, CorpID or SuiteID is printable ASCII without spaces/,
         "WxAppID: message");
}

# WxReplayCache: a provider httpd has, a bounded WxMaxAge everywhere.
my $shmcb = WxServer::load_lines('socache_shmcb');
{
    my ($rc, $out) = configtest($shmcb . "WxReplayCache shmcb\nWxReplayCacheFailure deny\n"
                                . "<Location /wx>\nWxToken LocTok3n\nWxMaxAge 60\n</Location>");
    is($rc, 0, 'WxReplayCache shmcb, WxMaxAge 60: accepted') or diag $out;
    ($rc, $out) = configtest($shmcb . "WxReplayCache shmcb\n"
                             . "<Location /wx/off>\nWxToken LocTok3n\nWxMaxAge off\n</Location>");
    isnt($rc, 0, 'WxReplayCache with WxMaxAge off in a <Location>: refused');
    like($out, qr{WxReplayCache needs a bounded WxMaxAge, but the <Location> section for /wx/off of .* has WxMaxAge off},
         'WxReplayCache with WxMaxAge off: message names the section');
    ($rc, $out) = configtest($shmcb . "WxMaxAge off\n<VirtualHost *:65000>\n"
                             . "WxReplayCache shmcb\n</VirtualHost>");
    isnt($rc, 0, 'WxReplayCache in a vhost, WxMaxAge off for the server: refused');
    like($out, qr{WxReplayCache needs a bounded WxMaxAge, but the server's own configuration},
         'vhost: message');
    ($rc, $out) = configtest('WxReplayCache nosuch:1');
    isnt($rc, 0, 'WxReplayCache with an unknown provider: refused');
    like($out, qr{WxReplayCache: unknown provider 'nosuch' \(is mod_socache_nosuch loaded\?\)},
         'unknown provider: message');
    ($rc, $out) = configtest('WxReplayCacheFailure maybe');
    isnt($rc, 0, 'WxReplayCacheFailure maybe: refused');
    like($out, qr{WxReplayCacheFailure takes allow or deny}, 'WxReplayCacheFailure: message');
    ($rc, $out) = configtest("<Location /x>\nWxReplayCache shmcb\n</Location>");
    isnt($rc, 0, 'WxReplayCache in a <Location>: refused (server and vhost only)');
    # memcache and redis are the module's own clients: no socache module.
    for my $spec ('memcache:127.0.0.1:11211', 'redis:127.0.0.1:6379', 'redis:localhost') {
        ($rc, $out) = configtest("WxReplayCache $spec");
        is($rc, 0, "WxReplayCache $spec: accepted without mod_socache_*") or diag $out;
    }
    ($rc, $out) = configtest('WxReplayCache redis:');
    isnt($rc, 0, 'WxReplayCache redis: without a host: refused');
    like($out, qr{WxReplayCache: redis takes one host:port \(redis:127\.0\.0\.1:6379\)},
         'redis without a host: message');
    ($rc, $out) = configtest("WxReplayCache redis:127.0.0.1:6379\n"
                             . "WxReplayCachePassword \${WX_CT_REDIS_PW}",
                             WX_CT_REDIS_PW => 'CtSecretPw1');
    is($rc, 0, 'WxReplayCachePassword from the environment: accepted') or diag $out;
    unlike($out, qr/CtSecretPw1/, 'WxReplayCachePassword: not in the output');
    ($rc, $out) = configtest("WxReplayCache memcache:127.0.0.1:11211\n"
                             . "WxReplayCachePassword CtSecretPw2");
    isnt($rc, 0, 'WxReplayCachePassword with memcache: refused');
    like($out, qr{WxReplayCachePassword is for a WxReplayCache on Redis, and .* has memcache:127\.0\.0\.1:11211},
         'WxReplayCachePassword with memcache: message');
    unlike($out, qr/CtSecretPw2/, 'WxReplayCachePassword refused: the password not shown');
    ($rc, $out) = configtest("WxReplayCache redis:127.0.0.1:6379\n"
                             . "<VirtualHost *:65000>\nWxReplayCachePassword CtSecretPw3\n"
                             . "</VirtualHost>");
    isnt($rc, 0, 'WxReplayCachePassword in a vhost that inherits the store: refused');
    like($out, qr{WxReplayCachePassword in .*, which shares its WxReplayCache with the main server},
         'a password for an inherited store: message');
    ($rc, $out) = configtest("WxReplayCache redis:127.0.0.1:6379\nWxReplayCachePassword CtSecretPw4\n"
                             . "<VirtualHost *:65000>\nWxReplayCache none\n</VirtualHost>");
    is($rc, 0, 'a vhost with its own store (none) does not inherit the password') or diag $out;
    ($rc, $out) = configtest('WxReplayCachePassword ${WX_CT_UNSET}');
    isnt($rc, 0, 'WxReplayCachePassword of an undefined variable: refused');
    ($rc, $out) = configtest("<Location /wx>\nWxToken LocTok3n\nWxDedup on\n</Location>");
    isnt($rc, 0, 'WxDedup without a WxReplayCache: refused');
    like($out, qr{WxDedup needs a WxReplayCache, but the <Location> section for /wx of .* has WxDedup on and none},
         'WxDedup without a WxReplayCache: message');
    ($rc, $out) = configtest($shmcb . "WxReplayCache shmcb\n<Location /wx>\nWxToken LocTok3n\n"
                             . "WxDedup on\nWxDedupWindow 30\n</Location>");
    is($rc, 0, 'WxDedup on, WxDedupWindow 30, with shmcb: accepted') or diag $out;
    for my $bad ('0', '86401', 'x', '-5') {
        ($rc, $out) = configtest("<Location /wx>\nWxDedupWindow $bad\n</Location>");
        isnt($rc, 0, "WxDedupWindow $bad: refused");
        like($out, qr{WxDedupWindow takes a number of seconds from 1 to 86400},
             "WxDedupWindow $bad: message");
    }
}

for my $line ('Require wx-signature SomeTok3n', 'Require wx-signature a b') {
    my ($rc, $out) = configtest("<Location /wx>\n$line\n</Location>");
    isnt($rc, 0, "'$line' refused");
    like($out, qr/Require wx-signature takes no arguments \(the tokens come from WxToken\)/,
         "'$line': message");
}

{
    my ($rc, $out) = configtest('WxToken');
    isnt($rc, 0, 'WxToken without a token refused');
    like($out, qr/WxToken needs at least one token/, 'message: at least one');
}

for my $arg ('0', '86401', '-5', 'abc', '10s', '1e3', '99999999999999999999') {
    my ($rc, $out) = configtest("WxMaxAge '$arg'");
    isnt($rc, 0, "WxMaxAge '$arg' refused");
    like($out, qr/WxMaxAge takes a number of seconds from 1 to 86400, or off/,
         "WxMaxAge '$arg': message");
}

# WeChat Pay: the keys are read and checked when httpd reads its
# configuration; every wrong file fails configtest with the reason.
{
    my $pay = catfile($cfg->{vars}{top_dir}, 't', 'pay');
    my $serial = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
    my $pubid = 'PUB_KEY_ID_0114232806052025032500000000000000';
    my ($rc, $out) = configtest(
        "<Location /pay>\nWxPayPublicKey $serial $pay/platform.pem\n"
        . "WxPayPublicKey $pubid $pay/pubkey.pem\n"
        . "WxPayAPIv3Key \${WX_TEST_PAY_KEY} a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb\n"
        . "WxPayMaxAge 600\nRequire wxpay-signature\n</Location>",
        WX_TEST_PAY_KEY => 'NewApiV3Key0123456789abcdefghijk');
    is($rc, 0, 'WeChat Pay: a certificate, a public key, two APIv3 keys (one ${ENV}), WxPayMaxAge')
        or diag $out;
    for my $case (
        ["WxPayPublicKey $serial $pay/nosuch.pem", qr/WxPayPublicKey \Q$serial\E: cannot read \S*nosuch\.pem: No such file or directory/, 'a missing file'],
        ["WxPayPublicKey 0A1B2C3D4E5F60718293A4B5C6D7E8F901234567 $pay/platform.pem",
         qr/the certificate's serial number is not the id/, "a certificate under another serial"],
        ["WxPayPublicKey $serial $pay/pubkey.pem",
         qr/the file holds no PEM certificate \(-----BEGIN CERTIFICATE-----\), which a serial number id names/,
         'a bare public key under a serial'],
        ["WxPayPublicKey $pubid $pay/platform.pem",
         qr/the file holds no PEM public key \(-----BEGIN PUBLIC KEY-----\), which a PUB_KEY_ID_ id names/,
         'a certificate under a PUB_KEY_ID_'],
        ["WxPayPublicKey 0123ABCD $pay/short.pem", qr/the RSA key is shorter than 2048 bits/, 'RSA 1024'],
        ["WxPayPublicKey $serial $pay/make-fixtures", qr/the file holds no PEM certificate/, 'a file that is no PEM'],
        ["WxPayPublicKey $serial $pay/platform.pem\nWxPayPublicKey $serial $pay/platform.pem",
         qr/that id is given twice in this section/, 'the same id twice'],
        ["WxPayPublicKey not-hex $pay/platform.pem", qr/the id is neither a certificate serial \(hex\) nor a PUB_KEY_ID_/, 'an id of neither kind'],
        ['WxPayAPIv3Key ShortSecretKey9', qr/WxPayAPIv3Key: the key is shorter than 32 characters \(an APIv3 key is 32 bytes\)/, 'a short APIv3 key'],
        ['WxPayAPIv3Key a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb LongerSecretKey0123456789abcdefgh',
         qr/WxPayAPIv3Key: the previous key is longer than 32 characters/, 'a long previous APIv3 key'],
        ['WxPayMaxAge 0', qr/WxPayMaxAge takes a number of seconds from 1 to 86400, or off/, 'WxPayMaxAge 0'],
        ['Require wxpay-signature please', qr/Require wxpay-signature takes no arguments \(the keys come from WxPayPublicKey\)/,
         'Require wxpay-signature with an argument'],
    ) {
        my ($line, $re, $name) = @$case;
        my ($rc, $out) = configtest("<Location /pay>\n$line\n</Location>");
        isnt($rc, 0, "WeChat Pay: $name: refused");
        like($out, $re, "WeChat Pay: $name: the reason");
        unlike($out, qr/ShortSecretKey9|LongerSecretKey0123456789abcdefgh/,
               "WeChat Pay: $name: no key in the message");
    }
    ($rc, $out) = configtest("<Directory /srv>\nWxPayPublicKey $serial $pay/platform.pem\n</Directory>");
    is($rc, 0, 'WxPayPublicKey in <Directory>') or diag $out;
    my $shm = WxServer::load_lines('socache_shmcb');
    ($rc, $out) = configtest($shm . "WxReplayCache shmcb\n<Location /pay>\nWxPayMaxAge off\n</Location>");
    isnt($rc, 0, 'WxReplayCache with WxPayMaxAge off: refused');
    like($out, qr/WXV00040: WxReplayCache needs a bounded WxPayMaxAge \(a notification's id is kept for 25 hours\), but the <Location> section for \/pay of \S+ has WxPayMaxAge off/,
         'WxPayMaxAge off under a WxReplayCache: the reason');
}

done_testing();
