// swift-tools-version: 6.0
// The workbook: one shared helper (Net), one executable per stage, and tests that run them.
import PackageDescription

let package = Package(
    name: "TCPWorkbook",
    targets: [
        // What every stage needs and no stage teaches: sockets, addresses, errors, framing, options.
        .target(name: "Net"),

        // The five stages. Each is a complete server; each adds one lesson to the one before.
        .executableTarget(name: "Stage1SingleThread", dependencies: ["Net"]),
        .executableTarget(name: "Stage2ThreadPerClient", dependencies: ["Net"]),
        .executableTarget(name: "Stage3PriorityQueue", dependencies: ["Net"]),
        .executableTarget(name: "Stage4NonBlocking", dependencies: ["Net"]),
        .executableTarget(name: "Stage5Shutdown", dependencies: ["Net"]),
        // Stage 6 sleeps in epoll, which Swift's Glibc module does not show: CEpoll does.
        .target(name: "CEpoll"),
        .executableTarget(name: "Stage6EventLoop", dependencies: ["Net", "CEpoll"]),

        // Your own server, judged by a stage's tests (docs/workshop.md).
        .executableTarget(name: "Workshop", dependencies: ["Net"]),

        // Talks to any stage: interactively, as a repeating "parrot", or as a load generator.
        .executableTarget(name: "Client", dependencies: ["Net"]),

        // Launches a built stage on port 0 and talks to it; shared by every stage's tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "NetTests", dependencies: ["Net"]),
        .testTarget(name: "ContractTests", dependencies: ["TestSupport"]),
        .testTarget(name: "Stage1Tests", dependencies: ["TestSupport"]),
        .testTarget(name: "Stage2Tests", dependencies: ["TestSupport"]),
        .testTarget(name: "Stage3Tests", dependencies: ["TestSupport", "Stage3PriorityQueue"]),
        .testTarget(name: "Stage4Tests", dependencies: ["TestSupport", "Net", "Stage4NonBlocking"]),
        .testTarget(name: "Stage5Tests", dependencies: ["TestSupport", "Net", "Stage5Shutdown"]),
        .testTarget(name: "Stage6Tests", dependencies: ["TestSupport"]),
        .testTarget(name: "ClientTests", dependencies: ["TestSupport"]),
        // The docs against the code: transcripts replayed, excerpts compared, links followed.
        .testTarget(name: "DocsTests", dependencies: ["TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
