@actor:repository
Feature: Storing and serving ciphertext
  The repository keeps each transfer's ciphertext under its document ID and hands it to whoever
  holds that ID. It offers no search: the document ID, which only the token carries, is the one
  way in.

  @CPDI-REPO-01 @CPDI-ID-01 @option:core @required
  Scenario: The repository serves a document by its document ID alone
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the receiving hospital downloads the document named in the token
    Then the download is the ciphertext as it was uploaded, byte for byte

  @CPDI-ID-01 @option:core @required
  Scenario Outline: The repository reveals no document to <request>
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When someone asks the repository for <request>
    Then the repository reveals no document

    Examples: ways to look for documents without their ID
      | request                                        |
      | "a list of the documents it holds"             |
      | "the documents of patient 山田 太郎"           |
      | "a document ID that was never issued"          |
      | "a document ID one character off the real one" |

  @CPDI-ID-01 @option:core @required
  Scenario: A document ID cannot be used twice
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When another upload arrives under the same document ID
    Then the repository refuses the upload
    And the download is the ciphertext as it was uploaded, byte for byte

  @CPDI-REPO-02 @option:core @required
  Scenario: An interrupted upload resumes where it broke
    Given an encrypted transfer of 2 MB
    And the connection to the repository breaks once, 512 KB into the upload
    When the sending hospital uploads the transfer to the repository
    Then the transfer resumed where it broke instead of starting again
    And the download is the ciphertext as it was uploaded, byte for byte

  @CPDI-REPO-02 @option:core @required
  Scenario: An interrupted download resumes where it broke
    Given an encrypted transfer of 2 MB
    And the sending hospital has uploaded the transfer to the repository
    And the connection to the repository breaks once, 512 KB into the download
    When the receiving hospital downloads the document named in the token
    Then the transfer resumed where it broke instead of starting again
    And the download is the ciphertext as it was uploaded, byte for byte

  @CPDI-REPO-02 @option:core @required
  Scenario Outline: An upload that arrives <damage> is never served
    Given an encrypted transfer of 2 MB
    When the sending hospital uploads the transfer to the repository, <damage>
    Then the repository refuses the upload
    And the repository reveals no document

    Examples: ways an upload arrives damaged
      | damage                                             |
      | with one byte changed on the way                   |
      | with more bytes than it declared                   |
      | declaring a digest that does not match its content |
