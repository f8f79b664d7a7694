// enrich: the stage entry point. Turns decoded kernel records into typed, enriched events:
// process identity on every event, absolute paths and per-file byte counts, flows named by
// SNI, HTTP Host or DNS. Time comes in with the records (monotonic) and goes out as wall clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "decode/decoder.hpp"
#include "enrich/file_tracker.hpp"
#include "enrich/flow_table.hpp"
#include "enrich/object_tracker.hpp"
#include "enrich/process_table.hpp"
#include "enrich/socket_owners.hpp"
#include "events.hpp"
#include "util/bounded.hpp"

namespace exfilwatch::enrich {

struct EnricherStats {
    std::uint64_t records = 0;
};

class Enricher {
public:
    // `monotonic_to_wall_ns` is added to kernel (CLOCK_MONOTONIC) timestamps. `sockets` names
    // the owner of a socket no process claimed (may be null: such flows keep pid 0). `objects`
    // tracks pipe/socket pairs (null: an own tracker with no kernel counters to harvest at exit).
    Enricher(ProcessTable& processes, FileTracker& files, FlowTable& flows, std::int64_t monotonic_to_wall_ns,
             SocketOwners* sockets = nullptr, ObjectTracker* objects = nullptr);

    void on_record(const decode::Record& record, std::vector<Event>& out);
    // Plaintext for the content scan: a TLS library write (joined to its socket: the kernel's
    // binding, else the one learnt for the same library connection, else the process's newest
    // TCP flow), or the captured head of a plain HTTP stream; nullopt for any other record.
    // Called after on_record(record): an HTTP/2 write comes with its frames as on_record decoded
    // them (the connection's HPACK state moves once per write).
    std::optional<PlaintextWrite> plaintext(const decode::Record& record);
    // Periodic work at wall time `now`: summaries of long-running readers, table expiry.
    void tick(TimeNs now, std::vector<Event>& out);

    TimeNs wall(std::uint64_t monotonic_ns) const
    {
        return static_cast<TimeNs>(static_cast<std::int64_t>(monotonic_ns) + offset_);
    }

private:
    // A memory read or write names the process whose memory it is: its pid as the host numbers
    // it (translated from the caller's pid namespace) and its entity id.
    void name_memory_peer(ObjectIoEvent& io);
    // The socket a TLS library write went out on (see plaintext()); learns the kernel's binding.
    std::uint64_t tls_cookie(const decode::TlsPlaintext& tls);

    ProcessTable& processes_;
    FileTracker& files_;
    FlowTable& flows_;
    std::int64_t offset_;
    SocketOwners* sockets_;
    ObjectTracker own_objects_;
    ObjectTracker& objects_;
    util::LruMap<std::string, std::uint64_t> tls_sockets_;  // "pid/object" -> socket cookie
    std::optional<DecodedFrames> decoded_;                  // the last record's HTTP/2 frames, for plaintext()
};

}  // namespace exfilwatch::enrich
