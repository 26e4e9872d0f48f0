# SPDX-License-Identifier: Apache-2.0
# Input nobody signed never gets a 5xx or an alarm: randomized requests
# against the handler and the guard, with and without keys, every envelope
# shape, with and without msg_signature and encrypt_type.  Every status is
# one of 200/400/403/405/413/414, and no line of ours is above info;
# except that a request whose msg_signature does verify where no key is in
# effect is WeChat's own: exactly those get 500 no-key, at error.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use File::Spec::Functions qw(catfile);
use HTTP::Request;
use LWP::UserAgent;
use MIME::Base64 qw(encode_base64);
use WxBackend;
use WxTest;

# Under valgrind (make memcheck) each request costs ~100 times more.
my $N = $ENV{WX_VALGRIND} ? 150 : 2000;
my $seed = $ENV{WX_RANDOM_SEED} // time ^ $$;
srand($seed);
diag("t/random.t: seed $seed (WX_RANDOM_SEED=$seed to replay), $N requests a target");

my $app = WxBackend->start_http($ENV{WX_BACKEND_PORT},
                                catfile(t_logs(), 'backend-random.jsonl'));
my $ua = LWP::UserAgent->new(keep_alive => 4, timeout => 30);
my $base = Apache::TestRequest::resolve_url('');
$base =~ s{/$}{};

# [path, token, keys in effect, handler (GET answered by Apache)]
my @targets = (
    ['/wecom',       'WeComTok3n', 1, 1],
    ['/wecom-nokey', 'WeComTok3n', 0, 1],
    ['/safe-guard',  'SafeTok3n',  1, 0],
    ['/nokey-guard', 'NoKeyTok3n', 0, 0],
);
my %allowed = map { $_ => 1 } qw(200 400 403 405 413 414);

sub pick { $_[int rand @_] }
sub rnd_b64 { my $n = shift; encode_base64(join('', map { chr int rand 256 } 1 .. $n), '') }
sub esc { my $s = shift; $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s }

my %wrap = (
    xml     => sub { "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[$_[0]]]></Encrypt></xml>" },
    compat  => sub { "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[hi]]></Content><Encrypt><![CDATA[$_[0]]]></Encrypt></xml>" },
    json    => sub { qq({"ToUserName":"gh_1","Encrypt":"$_[0]"}) },
    wecom   => sub { qq({"tousername":"ww1","encrypt":"$_[0]","agentid":1}) },
    doctype => sub { "<!DOCTYPE xml><xml><Encrypt><![CDATA[$_[0]]]></Encrypt></xml>" },
    pi      => sub { "<?a <![CDATA[?><!-- x --><xml><Encrypt><![CDATA[$_[0]]]></Encrypt></xml><?b ]]>?>" },
    xmlns   => sub { '<xml' . join('', map { " xmlns:a$_=\"u$_\"" } 1 .. 200) . "><Encrypt>$_[0]</Encrypt></xml>" },
    two     => sub { "<xml><Encrypt>$_[0]</Encrypt><Encrypt>$_[0]</Encrypt></xml>" },
    garbage => sub { join '', map { chr int rand 256 } 1 .. 64 },
    form    => sub { "Encrypt=$_[0]" },
    big     => sub { '<xml><Encrypt>' . ('A' x 270000) . '</Encrypt></xml>' },
);
my @shapes = keys %wrap;

my ($n500, $unsigned, %status) = (0, 0);
for my $t (@targets) {
    my ($path, $token, $keys, $handler) = @$t;
    my $lm = log_mark();
    my ($signed_nokey, $bad, $bad_what) = (0, 0, '');
    for my $i (1 .. $N) {
        my $method = pick(qw(GET GET HEAD POST POST POST PUT));
        my $ts = pick(time, time, time - 100000, '', 'x1', '0' . time);
        my $nonce = pick(int rand 1e9, '', 'n' x 5000);
        my $shape = pick(@shapes, 'none', 'none');
        my $enc = pick(rnd_b64(pick(32, 48, 64)), '', 'not base64!');
        my $echo = pick(rnd_b64(48), '', undef);
        # (LWP sends no body with a HEAD; t/safe.t sends one byte for byte.)
        my $body = $shape eq 'none' || $method eq 'HEAD' ? undef : $wrap{$shape}->($enc);
        my $signs = ($body && $shape !~ /^(garbage|form|big|two)$/) ? $enc : ($echo // '');
        my %q;
        my $sigkind = pick(qw(none empty garbage valid));
        $q{signature} = { none => undef, empty => '', garbage => 'f' x 40,
                          valid => sign($token, $ts, $nonce) }->{$sigkind};
        my $msgkind = pick(qw(none empty garbage valid valid));
        $q{msg_signature} = { none => undef, empty => '', garbage => '0' x 40,
                              valid => sign($token, $ts, $nonce, $signs) }->{$msgkind};
        $q{encrypt_type} = pick(undef, 'aes', '');
        $q{timestamp} = $ts if pick(1, 1, 1, 0);
        $q{nonce} = $nonce if pick(1, 1, 1, 0);
        $q{echostr} = $echo;
        my @q = map { "$_=" . esc($q{$_}) } grep { defined $q{$_} } sort keys %q;
        my $query = join '&', @q;
        $query .= '&' . ('z' x 9000) if rand() < 0.01;
        my $req = HTTP::Request->new($method => "$base$path?$query");
        my $ctype = pick('text/xml', 'application/json',
                         'application/x-www-form-urlencoded');
        if (defined $body) {
            $req->content($body);
            $req->header('Content-Length' => length $body);
            $req->header('Content-Type' => $ctype);
        }
        # Could WeChat have sent it, where no key is in effect?  Its
        # msg_signature verifies over what the module signs (the body's
        # Encrypt, or echostr on a bodiless GET), it carries no plain
        # signature (which would make it plain mode), and nothing before
        # the signature refuses it.
        my $fresh = $ts ne '' && $ts =~ /^\d+$/ && abs($ts - time) < 250;
        my $bodypath = $method !~ /^(GET|HEAD)$/ || defined $body;
        my $signed = !$keys && $msgkind eq 'valid' && !defined $q{signature}
            && defined $q{timestamp} && defined $q{nonce} && $fresh
            && length($nonce) > 0 && length($nonce) <= 4096
            && length($query) < 8000
            && ($handler ? $method =~ /^(GET|HEAD)$/ && !defined $body
                           && defined $echo && $echo ne ''
               : $bodypath ? defined $body && $shape =~ /^(xml|compat|json|wecom)$/
                             && $enc ne '' && $ctype !~ /form/
               : defined $echo && $echo ne '');
        my $res = $ua->request($req);
        my $code = $res->code;
        $status{$code}++;
        # Which requests WeChat could have sent: msg_signature verifies over
        # what the module signs (the body's Encrypt, else echostr), where no
        # key is in effect.  Only those may be 500.
        if ($signed) {
            $signed_nokey++;
            next if $code == 500;
        }
        else {
            $unsigned++;
            next if $allowed{$code};
        }
        $bad++;
        $bad_what ||= "$method $path?" . substr($query, 0, 200)
                    . " shape $shape: $code";
    }
    is($bad, 0, "$path: unsigned: every status in 200/400/403/405/413/414; "
              . "verified without a key: 500") or diag($bad_what);
    my @lines = grep { !/\[wx_valid:(info|debug|trace\d)\]/ } wx_lines_since($lm);
    my @nokey = grep { /WXV00011: no-key: msg_signature verified, but no WxEncodingAESKey/ } @lines;
    is(scalar(@lines) - scalar(@nokey), 0,
       "$path: no line of ours above info but no-key's") or diag($lines[0]);
    is(scalar @nokey, $signed_nokey,
       "$path: one no-key error per verified msg_signature without a key ($signed_nokey)");
    ok($signed_nokey == 0, "$path: a key is in effect: no 500 at all") if $keys;
    $n500 += $signed_nokey;
}
diag(join ', ', map { "$_: $status{$_}" } sort keys %status);
ok($unsigned >= 4 * $N * 0.7, "most requests were unsigned ($unsigned)");
$app->stop;
done_testing();
