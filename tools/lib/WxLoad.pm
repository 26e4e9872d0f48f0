# SPDX-License-Identifier: Apache-2.0
package WxLoad;
# The load harness shared by tools/bench and tools/soak: one Apache with
# mod_wx_valid and the no-check baseline (bench/mod_wx_bench.c) on
# loopback, in a world-readable temporary folder (as root the server runs
# as nobody, who may not read a checkout under /root).  Optionally, for
# the bench, the same Apache with a WxReplayCache (memcached and
# redis-server come from t/lib/WxServer.pm, as in the tests, and so do the
# waits for a server to come up and to go).
use strict;
use warnings FATAL => 'all';

use Digest::SHA qw(sha1_hex);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Scalar::Util qw(refaddr weaken);

use WxServer ();

our $TOKEN = 'BenchTok3n2026';
our $NONCE = '1514711492';
# Safe mode under /safe: a fixed bench EncodingAESKey (43 letters or
# digits, no surplus bits in the last one) and the receiveid it requires.
our $AES_KEY = 'BenchAESKey0123456789abcdefghijklmnopqrstuw';
our $APPID   = 'wxbench0123456789a';
# WeChat Pay: the test platform certificate of t/pay/, the V6 APIv3 key.
our $PAY_SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
our $PAY_APIV3  = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';

sub new {
    my ($class, %o) = @_;
    my $apxs = $o{apxs} || 'apxs';
    my $self = bless {
        top  => $o{top},
        port => $o{port},
        mpm  => $o{mpm} || 'event',
        loglevel => $o{loglevel} || 'warn',
        # a WxReplayCache argument: see write_conf
        cache => $o{cache},
    }, $class;
    $self->{apxs} = $apxs;
    chomp(my $sbindir = `$apxs -q SBINDIR`);
    chomp(my $target  = `$apxs -q TARGET`);
    $self->{httpd} = "$sbindir/$target";

    my $dir = $self->{dir} = tempdir("wx_valid-$o{name}.XXXXXX", TMPDIR => 1,
                                     CLEANUP => !$o{keep});
    chmod 0755, $dir;
    mkdir "$dir/htdocs";
    for my $d (qw(static guarded safe pay)) {
        mkdir "$dir/htdocs/$d";
        open my $fh, '>', "$dir/htdocs/$d/tiny.txt" or die $!;
        print $fh "ok\n";
        close $fh;
    }
    system('chmod', '-R', 'a+rX', $dir) == 0 or die;
    $self->{conf} = "$dir/httpd.conf";
    my $user = '';
    if ($> == 0) {
        my $group = getgrgid((getpwnam('nobody'))[3]);
        $user = "User nobody\nGroup $group";
    }
    $self->write_conf($self->{conf}, $dir, $user, $self->{mpm});
    return $self;
}

sub dir   { $_[0]{dir} }
sub conf  { $_[0]{conf} }
sub httpd { $_[0]{httpd} }
sub base  { "http://127.0.0.1:$_[0]{port}" }
sub port  { $_[0]{port} }
sub pid   { $_[0]{pid} }    # the master's, while it runs

# $run holds the pid file and the error log.  With the cache option, the
# same configuration ends with the socache providers' modules, that
# WxReplayCache for the whole server (every section has WxMaxAge 3600, as
# a replay cache requires), and WxReplayCacheFailure deny: a cache that
# fails shows as 503s, not as requests let through unchecked.
sub write_conf {
    my ($self, $file, $run, $user_lines, $mpm) = @_;
    my ($dir, $port, $top) = @$self{qw(dir port top)};
    my ($mods, $ok) = WxServer::httpd_load($self->{apxs}, $top, "mpm_$mpm",
        qw(unixd authz_core mime),
        $self->{cache} ? qw(socache_shmcb socache_memcache socache_redis) : ());
    $ok or die "tools/httpd-load failed for $self->{apxs}\n";
    open my $cf, '>', $file or die "$file: $!";
    print $cf <<"EOF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$run/httpd.pid"
DefaultRuntimeDir "$run"
ErrorLog "$run/error_log"
LogLevel $self->{loglevel}
$mods
$user_lines
LoadModule wx_valid_module "$top/.libs/mod_wx_valid.so"
LoadModule wx_bench_module "$top/bench/.libs/mod_wx_bench.so"
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot "$dir/htdocs"
<Directory "$dir/htdocs">
    Require all granted
</Directory>
<Location /base>
    SetHandler wx-bench-echo
</Location>
<Location /wx>
    SetHandler wx-valid
    WxToken $TOKEN
    WxMaxAge 3600
</Location>
<Directory "$dir/htdocs/guarded">
    WxToken $TOKEN
    WxMaxAge 3600
    Require wx-signature
</Directory>
<Directory "$dir/htdocs/pay">
    WxPayPublicKey $PAY_SERIAL "$top/t/pay/platform.pem"
    WxPayAPIv3Key $PAY_APIV3
    WxPayMaxAge 86400
    Require wxpay-signature
</Directory>
<Directory "$dir/htdocs/safe">
    WxToken $TOKEN
    WxMaxAge 3600
    WxEncodingAESKey $AES_KEY
    WxAppID $APPID
    Require wx-signature
</Directory>
EOF
    if (my $cache = $self->{cache}) {
        print $cf "WxReplayCache $cache\nWxReplayCacheFailure deny\n";
    }
    close $cf;
}

# A query signed with $TOKEN at $ts (default now; valid for WxMaxAge 3600)
# with $nonce (default $NONCE).
sub signed_query {
    my ($self, $ts, $nonce) = @_;
    $ts //= time;
    $nonce //= $NONCE;
    my $sig = sha1_hex(join '', sort($TOKEN, $ts, $nonce));
    return "signature=$sig&timestamp=$ts&nonce=$nonce";
}

# $count signatures at $ts for the nonces $first, $first + 1, ...  (10
# digits, as $NONCE, so that the signed string keeps its length), as one
# string of fixed 50-byte records: 40 hex digits of signature, then the
# nonce.  What a replay cache needs: every request signed differently.
sub signed_records {
    my ($class, $ts, $first, $count) = @_;
    die "nonces $first + $count leave 10 digits\n"
        if $first < 1e9 || $first + $count > 1e10;
    my $out = '';
    for my $nonce ($first .. $first + $count - 1) {
        $out .= sha1_hex(join '', sort($TOKEN, $ts, $nonce)) . $nonce;
    }
    return $out;
}

# The npm oracle (t/oracle/wx_oracle.js: @wecom/crypto and wechat-crypto,
# no code shared with the module) on a list of operations; its results.
sub oracle { my $self = shift; return $self->oracle_script('wx_oracle.js', @_) }

# The same through another of t/oracle's scripts (WeChat Pay's:
# wxpay_oracle.js).
sub oracle_script {
    my ($self, $script, @ops) = @_;
    my $js = "$self->{top}/t/oracle/$script";
    my $file = "$self->{dir}/oracle-ops.json";
    open my $fh, '>', $file or die "$file: $!";
    print $fh JSON::PP->new->canonical->encode(\@ops);
    close $fh;
    my $out = `node '$js' < '$file'`;
    die "$js failed (exit $?): is t/oracle/node_modules there (tools/deps)?\n"
        if $? || $out !~ /^\[/;
    return @{ JSON::PP->new->decode($out) };
}

# A safe-mode POST of the plaintext $msg, made by the oracle (wecom):
# encrypted for $APPID under $AES_KEY, msg_signature over the Encrypt, at
# now.  Returns the query (with the plain signature too, as an Official
# Account in safe mode gets it) and the XML envelope for the body.
sub safe_post {
    my ($self, $msg) = @_;
    my $ts = time;
    my ($enc) = $self->oracle({ op => 'encrypt', lib => 'wecom',
                                key => $AES_KEY, id => $APPID, msg => $msg,
                                token => $TOKEN, timestamp => "$ts",
                                nonce => $NONCE });
    my $q = $self->signed_query($ts)
          . "&openid=oUser&encrypt_type=aes&msg_signature=$enc->{signature}";
    my $body = '<xml><ToUserName><![CDATA[gh_123]]></ToUserName>'
             . "<Encrypt><![CDATA[$enc->{encrypt}]]></Encrypt></xml>";
    return ($q, $body);
}

# A WeChat Pay notification, made by the pay oracle (wechatpay-axios-
# plugin): a transaction resource sealed under $PAY_APIV3, the body signed
# with the test platform key.  Returns (body, [header => value, ...]).
sub pay_post {
    my ($self) = @_;
    my $json = JSON::PP->new->canonical;
    my $resource = $json->encode({ mchid => '1230000109',
        appid => 'wxd678efh567hg6787', out_trade_no => 'bench-20261202',
        transaction_id => '4200000001', trade_state => 'SUCCESS',
        amount => { total => 100, currency => 'CNY' } });
    my ($sealed) = $self->oracle_script('wxpay_oracle.js', { op => 'seal', apiv3 => $PAY_APIV3,
        nonce => 'uluk4a9R25RW', aad => 'transaction',
        plaintext => $resource });
    my $body = $json->encode({ id => 'EV-bench-1',
        create_time => '2026-12-02T10:00:00+08:00',
        resource_type => 'encrypt-resource',
        event_type => 'TRANSACTION.SUCCESS', summary => 'paid',
        resource => { original_type => 'transaction',
                      algorithm => 'AEAD_AES_256_GCM',
                      ciphertext => $sealed->{ciphertext},
                      associated_data => 'transaction',
                      nonce => 'uluk4a9R25RW' } });
    my $ts = time;
    my ($sig) = $self->oracle_script('wxpay_oracle.js', { op => 'sign',
        key => "$self->{top}/t/pay/platform.key", timestamp => "$ts",
        nonce => 'benchnonce', body => $body });
    return ($body, ['Wechatpay-Timestamp' => $ts,
                    'Wechatpay-Nonce' => 'benchnonce',
                    'Wechatpay-Signature' => $sig->{signature},
                    'Wechatpay-Serial' => $PAY_SERIAL,
                    'Wechatpay-Signature-Type' => 'WECHATPAY2-SHA256-RSA2048']);
}

# httpd -k $what, with this run's pid file.
sub ctl {
    my ($self, $what) = @_;
    system($self->{httpd}, '-f', $self->{conf},
           '-c', qq{PidFile "$self->{pidfile}"}, '-k', $what) == 0
        or die "$self->{httpd} -k $what failed (see $self->{dir}/error_log)\n";
}

sub what { "the Apache on 127.0.0.1:$_[0]{port} ($_[0]{conf})" }

# The servers up, by address, for END.
my %up;

# Up: the master that this start's own pid file names runs, and listens
# on the port, and answers there (-k start returns before any of that).
sub start {
    my $s = shift;
    die $s->what . " runs already (pid $s->{pid})\n" if $s->{pid};
    WxServer::port_free($s->{port}, $s->what);
    $s->{pidfile} = "$s->{dir}/httpd." . ++$s->{runs} . '.pid';
    $s->ctl('start');
    $s->{owner} = $$;
    weaken($up{ refaddr $s } = $s);
    $s->{pid} = eval {
        WxServer::wait_ready(what => $s->what, port => $s->{port},
                             pidfile => $s->{pidfile},
                             log => "$s->{dir}/error_log");
    } // do {
        my $err = $@;
        $s->{pid} = WxServer::pidfile($s->{pidfile});
        eval { $s->stop };
        die $err;
    };
}

# Stopped when the master and its children are gone: SIGTERM (what -k
# stop sends), 30 s, then SIGKILL with a warning.  False if it took that.
sub stop {
    my $s = shift;
    delete $up{ refaddr $s };
    my $pid = delete $s->{pid} or return 1;
    return WxServer::stop_pid(what => $s->what, pid => $pid, secs => 30);
}

# A run that dies half-way leaves no server behind: here, or in END,
# which runs before File::Temp's (loaded first) takes the configuration
# away, so that a die at file scope stops the server too.
sub DESTROY {
    my ($s) = @_;
    local ($?, $@);
    return unless $s->{pid} && $s->{owner} == $$;
    eval { $s->stop };
    warn $@ if $@;
}
END {
    local ($?, $@);
    $_->DESTROY for grep { defined } values %up;
}

# ab -k's requests, with a different path each: over one keep-alive
# connection to 127.0.0.1:$port, $method each of @$paths in turn (with
# $body, Content-type text/xml, for a POST), byte for byte as ab 2.3 sends
# them (HTTP/1.0, Connection: Keep-Alive), each answer read whole before
# the next request.  Returns the status codes, one per path; dies if the
# server closes the connection early.
sub keepalive_requests {
    my ($class, $port, $method, $paths, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect 127.0.0.1:$port: $!";
    binmode $s;
    $s->autoflush(1);
    my $head = "Connection: Keep-Alive\r\n";
    $head .= sprintf "Content-length: %d\r\nContent-type: text/xml\r\n",
                     length $body if $method eq 'POST';
    $head .= "Host: 127.0.0.1:$port\r\nUser-Agent: ApacheBench/2.3\r\n"
           . "Accept: */*\r\n\r\n";
    $head .= $body if $method eq 'POST';
    my ($buf, @codes) = ('');
    # More of the answer, within 60 s (a server under valgrind is slow).
    my $sel = IO::Select->new($s);
    my $more = sub {
        my ($what) = @_;
        $sel->can_read(60)
            or die "127.0.0.1:$port: no answer in 60 s after "
                 . scalar(@codes) . " answers\n";
        sysread($s, $buf, 65536, length $buf)
            or die "127.0.0.1:$port closed the connection $what\n";
    };
    for my $path (@$paths) {
        print $s "$method $path HTTP/1.0\r\n$head" or die "send: $!";
        my $end;
        until (($end = index $buf, "\r\n\r\n") >= 0) {
            $more->('after ' . scalar(@codes) . ' answers');
        }
        my $h = substr $buf, 0, $end + 4, '';
        my ($code) = $h =~ m{^HTTP/1\.\d (\d{3})}
            or die "not an HTTP answer: $h\n";
        my ($len) = $h =~ /^Content-Length:\s*(\d+)\r$/mi;
        die "an answer without Content-Length:\n$h" unless defined $len;
        $more->('mid-answer') while length $buf < $len;
        substr $buf, 0, $len, '';
        push @codes, $code;
    }
    close $s;
    return @codes;
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub machine {
    my ($self) = @_;
    chomp(my $cpu = `grep -m1 'model name' /proc/cpuinfo | cut -d: -f2`);
    $cpu =~ s/^\s+//;
    chomp(my $ncpu = `nproc`);
    chomp(my $version = `$self->{httpd} -v | head -1`);
    $version =~ s/^Server version:\s*//;
    return sprintf '%s cores, %s; %s, %s MPM', $ncpu, $cpu, $version,
                   $self->{mpm};
}

1;
