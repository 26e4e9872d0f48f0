# SPDX-License-Identifier: Apache-2.0
# .htaccess use, as on shared hosting: SetHandler needs AllowOverride
# FileInfo, WxToken and WxMaxAge need AllowOverride AuthConfig.
# t/htdocs/ht/.htaccess               WxToken HtParentTok3n
# t/htdocs/ht/child/.htaccess         WxToken HtChildTok3n HtChildOld3n
# t/htdocs/ht/child/deeper/.htaccess  WxMaxAge off
# t/htdocs/ht/inherit/                (no .htaccess)
# t/htdocs/noauth/.htaccess           AllowOverride lacks AuthConfig
# t/htdocs/badtok/.htaccess           WxToken Bad-Tok3n-Leak
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use WxTest;

sub verify {
    my ($path, $token, %o) = @_;
    return GET("$path?" . signed_query(token => $token, echostr => 'HT',
                                       %o));
}

for my $case (
    ['/ht/',               'HtParentTok3n', 200, '.htaccess WxToken'],
    ['/ht/any/name',       'HtParentTok3n', 200, 'any URL below the directory'],
    ['/ht/',               'HtChildTok3n',  403, 'child token not valid above'],
    ['/ht/inherit/',       'HtParentTok3n', 200, 'subdirectory inherits'],
    ['/ht/child/',         'HtChildTok3n',  200, 'subdirectory .htaccess replaces'],
    ['/ht/child/',         'HtChildOld3n',  200, 'subdirectory second token'],
    ['/ht/child/',         'HtParentTok3n', 403, 'parent token replaced'],
    ['/ht/child/deeper/',  'HtChildOld3n',  200, 'WxMaxAge off inherits tokens'],
) {
    my ($path, $tok, $status, $name) = @$case;
    my $r = verify($path, $tok);
    is($r->code, $status, "$name: $status");
    is($r->content, 'HT', "$name: body") if $status == 200;
}

# WxMaxAge in .htaccess: deeper/ has it off, child/ keeps the default 300.
is(verify('/ht/child/deeper/', 'HtChildTok3n', timestamp => 1000)->code,
   200, '.htaccess WxMaxAge off: any timestamp');
is(verify('/ht/child/', 'HtChildTok3n', timestamp => 1000)->code,
   403, 'default WxMaxAge above it: stale');

# AllowOverride without AuthConfig: httpd refuses the whole .htaccess.
my $mark = log_mark();
my $r = verify('/noauth/', 'NoAuthTok3n');
is($r->code, 500, 'WxToken without AllowOverride AuthConfig: 500');
ok((grep { m{\[core:alert\] .*/noauth/\.htaccess: WxToken not allowed here} }
    lines_since($mark)),
   'the log says WxToken is not allowed there');

# A bad token in .htaccess: the request fails and the log says why,
# naming the position and never the value.
$mark = log_mark();
$r = verify('/badtok/', 'Bad-Tok3n-Leak');
is($r->code, 500, 'bad token in .htaccess: 500');
my @l = lines_since($mark);
ok((grep { m{/badtok/\.htaccess: WxToken: token 1 of 1 holds a character other than an ASCII letter or digit; WeChat's rule is 3 to 32 ASCII letters or digits} } @l),
   'the log names the rule');
ok(!(grep { /Bad-Tok3n-Leak/ } @l), 'the log does not repeat the token');

done_testing();
