# SPDX-License-Identifier: Apache-2.0
# No token ever reaches a log or a response, at any LogLevel up to trace8
# (t/conf/extra.conf.in runs the whole suite at trace8).  Runs last, after
# every other test has written its share of the logs, and adds requests of
# every outcome on every configured URL first.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use File::Spec::Functions qw(catfile);
use Time::HiRes ();
use WxTest;

# Every token the test configuration holds (WeChat's vector tokens "AAAAA"
# and "test" are left out: they are too common to grep for).
my %paths = (
    '/wx'               => [qw(CurTok3nAlpha OldTok3nBeta)],
    '/wx/child'         => [qw(ChildTok3n)],
    '/env'              => [qw(EnvTok3nFromEnv)],
    '/ht/'              => [qw(HtParentTok3n)],
    '/ht/child/'        => [qw(HtChildTok3n HtChildOld3n)],
    '/noauth/'          => [qw(NoAuthTok3n)],
    '/badtok/'          => [qw(Bad-Tok3n-Leak)],
    '/proxied'          => [qw(ProxyTok3n)],
    '/php/wechat.php'   => [qw(PhpTok3n)],
    '/combo/all-local-ip' => [qw(ComboTok3n)],
    '/guard-ht/hello.txt' => [qw(HtGuardTok3n)],
    '/wecom'            => [qw(WeComTok3n)],
    '/wecom-v4'         => [qw(QDG6eK)],
    '/safe'             => [qw(SafeTok3n)],
    '/safe-wecom'       => [qw(WeComTok3n)],
    '/php/safe.php'     => [qw(PhpSafeTok3n)],
);
# EncodingAESKeys are secrets as well (t/safe.t used them all).
my @keys = qw(CurrentKey0123456789abcdefghijklmnopqrstuvw
              abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
              jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C
              a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb
              NewApiV3Key0123456789abcdefghijk);
# (and the APIv3 keys, t/pay.t's)
my @tokens = (map({ @$_ } values %paths), 'VhostTok3n', @keys);

my @bodies;
for my $path (sort keys %paths) {
    for my $tok (@{ $paths{$path} }, 'WrongTok3n') {
        for my $q (signed_query(token => $tok, echostr => 'Z'),
                   signed_query(token => $tok, echostr => 'Z', timestamp => 1),
                   signed_query(token => $tok)) {
            my $r = GET("$path?$q");
            push @bodies, $r->as_string;
            $r = POST("$path?$q", content => 'x');
            push @bodies, $r->as_string;
        }
    }
}
Apache::TestRequest::module('wx_vhost');
push @bodies, GET('/v?' . signed_query(token => 'VhostTok3n', echostr => 'Z'))->as_string;
push @bodies, GET('/v?' . signed_query(token => 'Nope1234', echostr => 'Z'))->as_string;
Apache::TestRequest::module('default');

# The access logs are written after each response: wait for the line of
# one last request (note_since polls, bounded), then until no log has grown
# for 200 ms (at most 5 s), so that a line of a request before it that
# another worker writes a moment late is in too.
{
    my $nm = note_mark();
    GET('/wx?end=1');
    ok(defined note_since($nm, 'GET', '/wx'), 'the access log caught up');
    my $size = sub {
        my $n = 0;
        opendir my $d, t_logs() or return 0;
        $n += -s catfile(t_logs(), $_) // 0 for grep { !/^\./ } readdir $d;
        return $n;
    };
    my ($last, $still) = ($size->(), 0);
    for (1 .. 100) {
        Time::HiRes::sleep(0.05);
        my $now = $size->();
        $still = $now == $last ? $still + 1 : 0;
        $last = $now;
        last if $still >= 4;
    }
}

my $logs = t_logs();
opendir my $dh, $logs or die "$logs: $!";
my @files = grep { -f $_ } map { catfile($logs, $_) } readdir $dh;
closedir $dh;

my $all = '';
for my $f (@files) {
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    $all .= <$fh> // '';
}

# The proof only counts if the log really was at trace8 and saw our lines.
# (ok() rather than like(): a failure should not print megabytes of log.)
{
    my $conf = catfile(Apache::Test::vars('t_conf'), 'extra.conf');
    open my $fh, '<', $conf or die "$conf: $!";
    ok((grep { /^LogLevel trace8$/ } <$fh>), 'the server ran at LogLevel trace8');
}
ok($all =~ /\[[a-z_]+:trace[5-8]\]/, 'and wrote trace lines');
ok($all =~ /\[wx_valid:info\] .* WXV00002: bad-signature/,
   'and mod_wx_valid info lines');
ok($all =~ /\[wx_valid:debug\] .* WXV00008: ok/,
   'and mod_wx_valid debug lines');

# Every line of ours carries our module's name (APLOG_USE_MODULE in each
# glue file), so LogLevel wx_valid:... governs it and a reader can grep it.
{
    my @ours = $all =~ /^(.* WXV\d{5}: .*)$/mg;
    my @stray = grep { !/\[wx_valid:[a-z0-9]+\]/ } @ours;
    ok(@ours > 0 && !@stray, 'every WXV line is tagged [wx_valid:...]')
        or diag("untagged: $stray[0]");
}

for my $tok (@tokens) {
    ok($all !~ /\Q$tok\E/, "no log holds the secret $tok");
    ok(!(grep { /\Q$tok\E/ } @bodies), "no response holds the secret $tok");
}

done_testing();
